"""Trusted proxies: believe ``X-Forwarded-*`` or RFC 7239 ``Forwarded`` only from allowed peers.

One implementation under both :class:`wsgikit.middleware.ProxyFix` (any server) and the servers'
``--forwarded-allow-ips`` flags. :meth:`TrustedProxies.apply` rewrites an environ in place when
its direct peer (``REMOTE_ADDR``) is in the allowed networks: ``REMOTE_ADDR`` (and
``REMOTE_PORT``), ``wsgi.url_scheme``/``HTTPS``, ``HTTP_HOST``/``SERVER_NAME``/``SERVER_PORT``
and ``SCRIPT_NAME``. Hop counts are werkzeug ProxyFix's: ``x_for=N`` believes at most the N-th
address from the right, and the walk stops earlier at the first address that is not itself a
trusted proxy (what an untrusted hop says about earlier hops is not believed). The other headers
take the N-th value from the right; fewer values than N: the header is ignored.

The environ keeps the values it had before under ``wsgikit.proxy.original`` (a dict, see
:data:`ORIGINAL_KEY`); proxy headers that are not believed (from an untrusted peer, or with a hop
count of 0, or the header family not chosen) are removed from the environ so that no app reads
them by mistake; believed ones stay, for apps that read them. A malformed value is ignored with
one log line, never an error::

    proxies = TrustedProxies(trusted=["10.0.0.0/8"], x_for=1, x_proto=1, x_host=1)
    proxies.apply(environ)   # environ["REMOTE_ADDR"] is now the client's address
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from wsgikit._forwarded_syntax import Node, parse_forwarded, parse_host, parse_node, split_list

__all__ = [
    "DEFAULT_TRUSTED",
    "LOCAL_PROXIES",
    "ORIGINAL_KEY",
    "PROXY_HEADERS",
    "TrustedProxies",
    "has_proxy_headers",
    "parse_network",
]

log = logging.getLogger("wsgikit.proxy")

DEFAULT_TRUSTED = ("127.0.0.1", "::1")
ORIGINAL_KEY = "wsgikit.proxy.original"
# Every header a proxy (or a client pretending to be one) sends about earlier hops.
PROXY_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_FORWARDED",
)
# What apply() may change; their values before it are kept under ORIGINAL_KEY.
_REWRITTEN = (
    *("REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "HTTPS", "HTTP_HOST"),
    *("SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME"),
)
_KEPT = _REWRITTEN + PROXY_HEADERS
_HOPS = ("x_for", "x_proto", "x_host", "x_port", "x_prefix")
_PREFIX = re.compile(r"(/[^?#\x00-\x1f\x7f]*)?")
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_KNOWN_MAX = 4096  # addresses whose trust is remembered (ipaddress costs microseconds a call)


def parse_network(text: str) -> _Network | None:
    """An allowed-peers item: an address or CIDR (``10.0.0.0/8``, ``::1``), or ``*`` (None:
    every peer). ValueError with the reason for anything else."""
    item = text.strip()
    if item == "*":
        return None
    try:
        return ipaddress.ip_network(item, strict=False)
    except ValueError:
        raise ValueError(f"expected an IP address, a CIDR network or '*', got {text!r}") from None


class TrustedProxies:
    """Which peers are proxies, and how many hops of each header to believe (keyword-only).

    ``trusted``: addresses/CIDRs (default 127.0.0.1 and ::1), ``"*"`` trusts every peer.
    ``x_for``... ``x_prefix``: hop counts as werkzeug's ProxyFix (0: never believed).
    ``forwarded=True`` believes RFC 7239 ``Forwarded`` (``for``, ``proto``, ``host``; the port
    rides in ``host``) instead of ``X-Forwarded-*``: only one family, since a proxy that sets one
    usually passes the other through from the client untouched.
    """

    __slots__ = ("_known", "all", "forwarded", "hops", "networks")

    def __init__(
        self,
        *,
        trusted: Iterable[str] | str = DEFAULT_TRUSTED,
        x_for: int = 1,
        x_proto: int = 1,
        x_host: int = 0,
        x_port: int = 0,
        x_prefix: int = 0,
        forwarded: bool = False,
    ) -> None:
        items = [trusted] if isinstance(trusted, str) else list(trusted)
        if not all(isinstance(item, str) for item in items):
            raise TypeError(f"trusted must be strings (addresses, CIDRs or '*'), got {trusted!r}")
        networks = [parse_network(item) for item in items]
        self.all = None in networks
        self.networks = tuple(n for n in networks if n is not None)
        counts = (x_for, x_proto, x_host, x_port, x_prefix)
        for name, count in zip(_HOPS, counts, strict=True):
            if type(count) is not int or count < 0:
                raise ValueError(f"{name} must be an int >= 0, got {count!r}")
        self.hops = dict(zip(_HOPS, counts, strict=True))
        if type(forwarded) is not bool:
            raise TypeError(f"forwarded must be a bool, got {forwarded!r}")
        self.forwarded = forwarded
        self._known: dict[str, bool] = {}  # trusts() per address: peers are a few proxies

    def __repr__(self) -> str:
        trusted = ["*"] if self.all else [str(n) for n in self.networks]
        hops = ", ".join(f"{k}={v}" for k, v in self.hops.items())
        return f"TrustedProxies(trusted={trusted}, {hops}, forwarded={self.forwarded})"

    def trusts(self, address: str) -> bool:
        """Is ``address`` (a REMOTE_ADDR or a forwarded node) an allowed proxy?"""
        known = self._known.get(address)
        if known is None:
            known = self._trusts(address)
            if len(self._known) < _KNOWN_MAX:  # bounded: forwarded addresses are client-chosen
                self._known[address] = known
        return known

    def _trusts(self, address: str) -> bool:
        if self.all:
            return True
        try:
            ip = ipaddress.ip_address(address.partition("%")[0])  # no IPv6 zone
        except ValueError:
            return False  # "unknown", an obfuscated name, a unix socket path
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
        return any(ip in network for network in self.networks)

    def apply(self, environ: MutableMapping[str, Any], *, peer_trusted: bool | None = None) -> None:
        """Rewrite ``environ`` from the proxy headers if its peer is trusted; drop the rest.

        ``peer_trusted`` overrides the check of REMOTE_ADDR (a server knows a unix-socket peer).
        Applied twice (the server, then ProxyFix), the second starts from the originals.
        """
        original = environ.get(ORIGINAL_KEY)
        if isinstance(original, dict):
            _restore(environ, original)
        elif not has_proxy_headers(environ):
            return  # the common case: no proxy said anything
        environ[ORIGINAL_KEY] = {key: environ[key] for key in _KEPT if key in environ}
        peer = str(environ.get("REMOTE_ADDR", ""))
        if not (self.trusts(peer) if peer_trusted is None else peer_trusted):
            dropped = [key for key in PROXY_HEADERS if environ.pop(key, None) is not None]
            if dropped:
                log.debug("proxy headers from untrusted peer %s removed: %s", peer, dropped)
            return
        if self.forwarded:
            self._apply_forwarded(environ)
        else:
            self._apply_x_forwarded(environ)

    def _apply_x_forwarded(self, environ: MutableMapping[str, Any]) -> None:
        hops = self.hops
        environ.pop("HTTP_FORWARDED", None)
        values = {key: _take(environ, key, hops["x_" + key]) for key in _NAMES}
        node = self._client(values["for"], hops["x_for"], "X-Forwarded-For")
        proto = _nth(values["proto"], hops["x_proto"])
        host = _nth(values["host"], hops["x_host"])
        port = _nth(values["port"], hops["x_port"])
        prefix = _nth(values["prefix"], hops["x_prefix"])
        _rewrite(environ, node, proto=proto, host=host, port=port, prefix=prefix)

    def _apply_forwarded(self, environ: MutableMapping[str, Any]) -> None:
        for key in PROXY_HEADERS[:-1]:
            environ.pop(key, None)
        hops = self.hops
        if not any(hops[name] for name in ("x_for", "x_proto", "x_host")):
            environ.pop("HTTP_FORWARDED", None)  # nothing in it is believed
        raw = environ.get("HTTP_FORWARDED")
        if raw is None:
            return
        try:
            elements = parse_forwarded(str(raw))
        except ValueError as exc:
            log.info("malformed Forwarded header ignored: %s: %r", exc, raw)
            return
        fors = [e["for"] for e in elements if "for" in e]
        if len(fors) != len(elements):
            fors = []  # a hop without for=: the chain cannot be walked
        node = self._client(fors, hops["x_for"], "Forwarded for")
        proto = _nth([e.get("proto", "") for e in elements], hops["x_proto"])
        host = _nth([e.get("host", "") for e in elements], hops["x_host"])
        _rewrite(environ, node, proto=proto or None, host=host or None, port=None, prefix=None)

    def _client(self, chain: list[str], hops: int, what: str) -> Node | None:
        """Walk the chain right to left: the N-th node, or the first that is no trusted proxy;
        None when the chain is shorter than that (werkzeug ignores the header then)."""
        if not hops:
            return None
        for count, text in enumerate(reversed(chain), 1):
            try:
                node = parse_node(text)
            except ValueError as exc:
                log.info("malformed %s ignored: %s", what, exc)
                return None
            if count == hops or not self.trusts(node.address):
                return node
        return None


_NAMES = ("for", "proto", "host", "port", "prefix")
# The servers' default (--forwarded-allow-ips): X-Forwarded-For and -Proto from this host only.
LOCAL_PROXIES = TrustedProxies()


def has_proxy_headers(environ: MutableMapping[str, Any]) -> bool:
    """Did anyone send a proxy header? (Nothing to do for most requests: a set operation in C,
    5x faster than a loop in Python, since the servers ask it for every request.)"""
    return not environ.keys().isdisjoint(PROXY_HEADERS)


def _take(environ: MutableMapping[str, Any], name: str, hops: int) -> list[str]:
    """The header's comma-separated values; a header with a hop count of 0 leaves the environ
    (its original is kept), so that no app reads a value this configuration does not believe."""
    key = "HTTP_X_FORWARDED_" + name.upper()
    raw = environ.get(key) if hops else environ.pop(key, None)
    return [] if raw is None or not hops else split_list(str(raw))


def _nth(values: list[str], hops: int) -> str | None:
    return values[-hops] if hops and len(values) >= hops else None


def _restore(environ: MutableMapping[str, Any], original: dict[str, Any]) -> None:
    for key in _KEPT:
        if key in original:
            environ[key] = original[key]
        else:
            environ.pop(key, None)


def _rewrite(
    environ: MutableMapping[str, Any],
    node: Node | None,
    *,
    proto: str | None,
    host: str | None,
    port: str | None,
    prefix: str | None,
) -> None:
    """Set what the believed values say; each malformed one is ignored with a log line."""
    if node is not None:
        environ["REMOTE_ADDR"] = node.address
        if node.port is None:
            environ.pop("REMOTE_PORT", None)  # the proxy's port is not the client's
        else:
            environ["REMOTE_PORT"] = node.port
    if proto is not None:
        scheme = proto.lower()
        if scheme in ("http", "https"):  # PEP 3333: wsgi.url_scheme is one of the two
            environ["wsgi.url_scheme"] = scheme
            if scheme == "https":
                environ["HTTPS"] = "on"
            else:
                environ.pop("HTTPS", None)
        else:
            log.info("malformed forwarded proto ignored: %r", proto)
    if host is not None:
        _set_host(environ, host, port_given=port is not None)
    if port is not None:
        _set_port(environ, port)
    if prefix is not None:
        _set_prefix(environ, prefix)


def _set_host(environ: MutableMapping[str, Any], host: str, *, port_given: bool) -> None:
    try:
        name, port = parse_host(host)
    except ValueError as exc:
        log.info("malformed forwarded host ignored: %s", exc)
        return
    environ["HTTP_HOST"] = host
    environ["SERVER_NAME"] = name
    if port is not None:
        environ["SERVER_PORT"] = port
    elif not port_given:  # the client used the scheme's default port (RFC 9110 §4.2)
        environ["SERVER_PORT"] = "443" if environ.get("wsgi.url_scheme") == "https" else "80"


def _set_port(environ: MutableMapping[str, Any], port: str) -> None:
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        log.info("malformed X-Forwarded-Port ignored: %r", port)
        return
    environ["SERVER_PORT"] = str(int(port))
    host = environ.get("HTTP_HOST")
    if host:  # werkzeug's rule: the Host keeps its name and takes the forwarded port
        try:
            name, _ = parse_host(str(host))
        except ValueError:
            return
        environ["HTTP_HOST"] = f"{name}:{int(port)}"


def _set_prefix(environ: MutableMapping[str, Any], prefix: str) -> None:
    if not _PREFIX.fullmatch(prefix):
        log.info("malformed X-Forwarded-Prefix ignored: %r", prefix)
        return
    if "%" in prefix:  # SCRIPT_NAME is decoded, latin-1 "bytes as str" (PEP 3333)
        prefix = unquote_to_bytes(prefix.encode("latin-1", "replace")).decode("latin-1")
    environ["SCRIPT_NAME"] = prefix.rstrip("/")
