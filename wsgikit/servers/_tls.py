"""TLS for the HTTP server: the settings, the context, and sockets whose handshake runs on the loop.

:class:`TLSConfig` checks the certificate, key and CA paths and builds an ``ssl.SSLContext`` at
construction (a bad path or a key that does not match the certificate is a :class:`TLSError`
naming the file, before any socket is bound); :meth:`TLSConfig.reload` builds a new context from
the same paths for the connections to come. Sockets accepted on a TLS listener are
:class:`TLSSocket` s: the handshake runs non-blocking inside the loop's first ``recv`` (a client
that connects and says nothing costs a socket, and the header timeout closes it), and the
SSL-specific conditions become what the loop and :class:`~wsgikit.servers._connection.Connection`
already handle (``BlockingIOError``, :class:`WantWrite`)::

    tls = TLSConfig(certfile="site.pem", keyfile="site.key", min_version="1.3")
    Server(app, ["0.0.0.0:8443"], tls=tls).run()
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
from collections.abc import Iterable
from typing import Any

from wsgikit._binds import parse_bind
from wsgikit.config import Config, ConfigError, Setting
from wsgikit.servers._connection import WantWrite
from wsgikit.servers._tls_environ import tls_environ

__all__ = ["SETTINGS", "TLSConfig", "TLSError", "TLSSocket", "tls_options"]

error_log = logging.getLogger("wsgikit.error")

MIN_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
CLIENT_CERT = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
# One SSL_write's worth: a write that found the socket full must be retried with the same bytes
# (OpenSSL, SSL_write(3)), so every write of the same queue starts with the same, capped, prefix.
_WRITE_CAP = 256 << 10
_PLAIN_BODY = b"400 Bad Request: this port speaks HTTPS; use https://\n"
_PLAIN_HTTP_ANSWER = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_PLAIN_BODY), _PLAIN_BODY)
)
_RECORD = 16384  # the most plaintext one TLS record carries (RFC 8446 §5.1)


class TLSError(ValueError):
    """A certificate, key or CA file that cannot be used, or a bad TLS option (one line)."""


class TLSConfig:
    """The TLS settings of a server, checked and turned into an ``ssl.SSLContext`` at once.

    ``client_cert``: "none", "optional" or "required" (the latter two need ``ca_certs``, the CAs
    a client certificate must chain to); ``min_version``: "1.2" or "1.3"; ``ciphers``: an
    OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's). ALPN offers ``http/1.1``.
    """

    def __init__(
        self,
        *,
        certfile: str,
        keyfile: str | None = None,
        ca_certs: str | None = None,
        client_cert: str = "none",
        min_version: str = "1.2",
        ciphers: str | None = None,
    ) -> None:
        if client_cert not in CLIENT_CERT:
            raise TLSError(f"client_cert must be one of {', '.join(CLIENT_CERT)}: {client_cert!r}")
        if min_version not in MIN_VERSIONS:
            raise TLSError(f"min_version must be 1.2 or 1.3, got {min_version!r}")
        if client_cert != "none" and not ca_certs:
            raise TLSError(
                f"client certificates {client_cert} need ca_certs (--ca-certs): the CAs to trust"
            )
        if ca_certs and client_cert == "none":
            raise TLSError("ca_certs is only used with client certificates optional or required")
        self.certfile = certfile
        self.keyfile = keyfile
        self.ca_certs = ca_certs
        self.client_cert = client_cert
        self.min_version = min_version
        self.ciphers = ciphers
        self.context = self.build()

    def build(self) -> ssl.SSLContext:
        """A new server context from the paths (read now); TLSError says which file is wrong."""
        for what, path in (("certfile", self.certfile), ("keyfile", self.keyfile)):
            if path is not None:
                _check_readable(what, path)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = MIN_VERSIONS[self.min_version]
        # A client may not renegotiate (TLS 1.2): a read would then have to write, and a write
        # read, behind the loop's back; and renegotiation floods are a known DoS.
        ctx.options |= ssl.OP_NO_RENEGOTIATION
        try:
            ctx.load_cert_chain(self.certfile, self.keyfile, password=_no_password)
        except ssl.SSLError as exc:
            raise TLSError(_cert_problem(self.certfile, self.keyfile, exc)) from None
        if self.ciphers:
            try:
                ctx.set_ciphers(self.ciphers)
            except ssl.SSLError:
                raise TLSError(f"ciphers {self.ciphers!r}: OpenSSL selects no cipher") from None
        if self.ca_certs:
            _check_readable("ca_certs", self.ca_certs)
            try:
                ctx.load_verify_locations(cafile=self.ca_certs)
            except ssl.SSLError as exc:
                raise TLSError(f"ca_certs {self.ca_certs}: no PEM certificate ({exc})") from None
            ctx.verify_mode = CLIENT_CERT[self.client_cert]
        ctx.set_alpn_protocols(["http/1.1"])  # RFC 7301: we speak HTTP/1.1 only
        ctx.sslsocket_class = TLSSocket
        return ctx

    def reload(self) -> None:
        """Read the files again for connections accepted from now on (a renewed certificate);
        open connections keep the context they began with. TLSError: the old context stays."""
        self.context = self.build()

    def wrap(self, sock: socket.socket, environ: dict[str, Any]) -> TLSSocket:
        """The accepted ``sock`` as a TLSSocket; the handshake fills ``environ`` (SSL_* names)."""
        tls = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        assert isinstance(tls, TLSSocket)
        tls.environ = environ
        return tls


def _no_password() -> str:
    raise TLSError("the key is encrypted: give an unencrypted key file (chmod 600)")


def _check_readable(what: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise TLSError(f"{what} {path}: {exc.strerror or exc}") from None


def _cert_problem(certfile: str, keyfile: str | None, exc: ssl.SSLError) -> str:
    if exc.reason == "KEY_VALUES_MISMATCH":
        return f"keyfile {keyfile or certfile} does not match the certificate in {certfile}"
    where = f"certfile {certfile}" + (f" / keyfile {keyfile}" if keyfile else "")
    return f"{where}: not a PEM certificate and its private key ({exc.reason or exc})"


class TLSSocket(ssl.SSLSocket):
    """An accepted TLS connection as the loop and Connection use a socket, non-blocking.

    ``recv`` first drives the handshake; SSLWantRead becomes BlockingIOError (the loop waits to
    read), SSLWantWrite :class:`WantWrite` (the loop waits to write, then :meth:`sendmsg` goes
    on with the handshake). ``recv`` also empties what OpenSSL holds decrypted: those bytes are
    no longer in the kernel, and epoll would never say they are there. ``sendmsg`` (which
    SSLSocket lacks) joins the buffers into one write.
    """

    handshaken = False
    environ: dict[str, Any] | None = None

    def _handshake(self) -> bool:
        """Go on with the handshake: True once done, False when it waits for the client to send.

        WantWrite when it waits for the client to read; SSLError (logged) when it failed.
        """
        try:
            self.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLWantWriteError:
            raise WantWrite("the TLS handshake waits for the client to read") from None
        except ssl.SSLError as exc:
            peer = self.environ.get("REMOTE_ADDR", "-") if self.environ else "-"
            error_log.info("TLS handshake with %s failed: %s", peer, exc.reason or exc)
            if exc.reason == "HTTP_REQUEST":  # say so in plain HTTP, as nginx does (its 497)
                with contextlib.suppress(OSError):
                    os.write(self.fileno(), _PLAIN_HTTP_ANSWER)
            raise
        self.handshaken = True
        if self.environ is not None:
            self.environ.update(tls_environ(self))
        return True

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if not self.handshaken and not self._handshake():
            raise BlockingIOError("the TLS handshake waits for the client")
        try:
            data = super().recv(buflen, flags)
        except ssl.SSLWantReadError:
            raise BlockingIOError("no whole TLS record yet") from None
        except ssl.SSLWantWriteError:
            raise WantWrite("TLS wants to write before it reads") from None
        if not data:
            return data
        parts = [data]
        size = len(data)
        # Always empty what OpenSSL decrypted but we did not take (pending()): epoll cannot see
        # it. One SSL_read gives one record (16 KiB at most): after a full one (an upload), take
        # the records that follow too, one loop turn for up to ``buflen`` bytes as without TLS.
        bulk = size >= _RECORD
        while self.pending() or (bulk and size < buflen):
            try:
                more = super().recv(max(buflen - size, self.pending(), 1))
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                break  # BlockingIOError: after shutdown() (lingering) the reads are plain TCP
            if not more:
                break
            parts.append(more)
            size += len(more)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def send(self, data: Any, flags: int = 0) -> int:
        if not self.handshaken:
            raise ConnectionError("the TLS handshake has not finished")
        view = memoryview(data)
        try:
            return super().send(view[:_WRITE_CAP] if len(view) > _WRITE_CAP else view, flags)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            raise BlockingIOError("the client has not read enough") from None

    def sendmsg(self, buffers: Iterable[Any], *args: Any) -> int:  # type: ignore[override]
        if not self.handshaken:  # the loop waited for the client to read the handshake
            try:
                if not self._handshake():
                    return 0  # our part went out: wait for the client's (reading)
            except WantWrite:
                raise BlockingIOError("the TLS handshake waits for the client to read") from None
        out = bytearray()
        for buffer in buffers:
            room = _WRITE_CAP - len(out)
            if not out and len(buffer) >= room:
                return self.send(buffer)  # a big first buffer goes without a copy (send caps it)
            out += memoryview(buffer)[:room]
            if len(out) >= _WRITE_CAP:
                break
        return self.send(out) if out else 0

    def shutdown(self, how: int) -> None:
        """Send close_notify (RFC 8446 §6.1) if the socket takes it, then shut TCP down."""
        if self.handshaken:
            # Raises once ours is sent and the client's has not come: we do not wait for it.
            with contextlib.suppress(OSError, ValueError):
                self.unwrap()
        super().shutdown(how)


# -- command-line settings (spliced into cli.SERVE) ------------------------------------------------

SETTINGS = (
    Setting("certfile", str, None, "TLS: serve HTTPS with this PEM certificate (chain)"),
    Setting(
        "keyfile", str, None, "TLS: the certificate's private key, if it is not in the certfile"
    ),
    Setting("ca_certs", str, None, "TLS: CA certificates (PEM) client certificates must chain to"),
    Setting(
        "client_cert",
        str,
        "none",
        "TLS: none, optional or required: ask clients for a certificate (needs --ca-certs); "
        "its subject goes into the environ as SSL_CLIENT_S_DN",
        choices=tuple(CLIENT_CERT),
    ),
    Setting(
        "tls_min_version",
        str,
        "1.2",
        "TLS: the oldest version, 1.2 or 1.3",
        choices=tuple(MIN_VERSIONS),
    ),
    Setting("ciphers", str, None, "TLS: OpenSSL cipher list for TLS 1.2"),
    Setting(
        "redirect_https",
        list,
        (),
        "listen on ADDR in plain HTTP and redirect every request to HTTPS (301 for GET and "
        "HEAD, 308 for others), e.g. --bind 0.0.0.0:443 --redirect-https 0.0.0.0:80",
        validate=parse_bind,
        metavar="ADDR",
    ),
    Setting(
        "redirect_port",
        int,
        None,
        "the HTTPS port redirects name (default: the first --bind's port)",
        min=1,
        max=65535,
    ),
)


def tls_options(settings: Config) -> dict[str, Any]:
    """The Server keywords of the TLS settings; ConfigError (one line) for a bad file or option."""
    redirects = {
        "redirect_https": settings["redirect_https"],
        "https_port": settings["redirect_port"],
    }
    if not settings["certfile"]:
        given = [s.flag for s in SETTINGS[1:6] if settings.source(s.name) != "default"]
        if given:
            raise ConfigError(f"{given[0]} needs --certfile")
        if redirects["redirect_https"] and not redirects["https_port"]:
            raise ConfigError("--redirect-https without --certfile needs --redirect-port")
        return redirects
    try:
        tls = TLSConfig(
            certfile=settings["certfile"],
            keyfile=settings["keyfile"],
            ca_certs=settings["ca_certs"],
            client_cert=settings["client_cert"],
            min_version=settings["tls_min_version"],
            ciphers=settings["ciphers"],
        )
    except TLSError as exc:
        raise ConfigError(f"TLS: {exc}") from None
    return {"tls": tls, **redirects}
