"""Certificates for the TLS tests, made with the openssl CLI once per test session, and clients.

:func:`make_certs` writes a CA, a server certificate for ``localhost``/127.0.0.1 signed by it (and
a second one, "reloaded", for the reload tests), a client certificate (``CN=alice,O=wsgikit
test,C=DE``) and a key that matches none of them. :func:`tls_running` runs the HTTP server with
TLS on 127.0.0.1:0; :func:`client_context` is a Python ``ssl`` client that trusts the CA.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers.helpers import Running, read_all, running
from wsgikit.servers._tls import TLSConfig

CLIENT_DN = "CN=alice,O=wsgikit test,C=DE"


@dataclass(frozen=True)
class Certs:
    ca: Path
    cert: Path
    key: Path
    other_cert: Path  # CN=reloaded, same CA
    other_key: Path
    client_cert: Path
    client_key: Path
    stray_key: Path  # matches no certificate
    big_cert: Path  # CN=localhost with 1,500 more names: a handshake flight of about 40 KB
    big_key: Path

    def config(self, **options: Any) -> TLSConfig:
        return TLSConfig(certfile=str(self.cert), keyfile=str(self.key), **options)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _key(path: Path) -> None:
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)
    )


def _signed(directory: Path, name: str, subject: str, extensions: str, ca: Path) -> None:
    ca_key = ca.with_suffix(".key")
    key, csr, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
    _key(key)
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    ext = directory / f"{name}.ext"
    ext.write_text(extensions)
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-out", str(cert), "-extfile", str(ext),
    )  # fmt: skip


def make_certs(directory: Path) -> Certs:
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    _key(ca_key)
    _openssl(
        "req", "-x509", "-new", "-key", str(ca_key), "-subj", "/CN=wsgikit test CA",
        "-days", "2", "-out", str(ca),
    )  # fmt: skip
    server_ext = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    _signed(directory, "server", "/CN=localhost", server_ext, ca)
    _signed(directory, "other", "/CN=reloaded", server_ext, ca)
    client_ext = "extendedKeyUsage=clientAuth\n"
    _signed(directory, "client", "/C=DE/O=wsgikit test/CN=alice", client_ext, ca)
    _key(directory / "stray.key")
    names = ",".join(f"DNS:name{i}.wsgikit.test" for i in range(1500))
    big_ext = f"subjectAltName=DNS:localhost,IP:127.0.0.1,{names}\n"
    _signed(directory, "big", "/CN=localhost", big_ext, ca)
    return Certs(
        ca=ca,
        cert=directory / "server.pem",
        key=directory / "server.key",
        other_cert=directory / "other.pem",
        other_key=directory / "other.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        stray_key=directory / "stray.key",
        big_cert=directory / "big.pem",
        big_key=directory / "big.key",
    )


def client_context(certs: Certs, *, client_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    if client_cert:
        ctx.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    return ctx


class TLSRunning(Running):
    """A running server with TLS: ``tls_connect()`` gives a handshaken client socket."""

    ctx: ssl.SSLContext

    def tls_connect(self, timeout: float = 5.0, ctx: ssl.SSLContext | None = None) -> ssl.SSLSocket:
        raw = socket.create_connection((self.host, self.port), timeout=timeout)
        return (ctx or self.ctx).wrap_socket(raw, server_hostname="localhost")

    def request(self, raw: bytes, timeout: float = 5.0) -> bytes:
        """Send raw bytes over TLS, read until the server closes; the whole answer."""
        with self.tls_connect(timeout) as sock:
            sock.sendall(raw)
            return read_all(sock)


@contextmanager
def tls_running(
    app: Any, certs: Certs, *, tls: TLSConfig | None = None, **options: Any
) -> Iterator[Any]:
    """The HTTP server with TLS (``certs``' server certificate unless ``tls``) on 127.0.0.1:0."""
    with running(app, tls=tls or certs.config(), handle=TLSRunning, **options) as srv:
        srv.ctx = client_context(certs, client_cert=True)
        yield srv
