"""Where an unsafe request comes from: Django's Origin and Referer rules. Private to
:mod:`wsgikit.middleware.csrf`.

- An ``Origin`` header, when present, must be this site's origin or a trusted one (any scheme).
- Without it, an HTTPS request must carry a ``Referer`` that is HTTPS and this site or trusted:
  on HTTPS a man in the middle cannot forge one, and a cookie set over plain HTTP (RFC 6265
  §8.6) must not be enough to post to the HTTPS site.

Origins are compared as ``scheme://host[:port]``, lower case, default ports left out::

    trusted = TrustedOrigins("CSRF", ["https://*.example.com"])
    origin_problem(environ, trusted)   # None, or what failed
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from wsgikit.middleware._request_text import printable
from wsgikit.types import WSGIEnvironment

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, normalised; None when it is not one."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:  # a bad port or IPv6 literal
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def own_origin(environ: WSGIEnvironment) -> str | None:
    """This request's site: wsgi.url_scheme and Host (or SERVER_NAME and SERVER_PORT)."""
    host = environ.get("HTTP_HOST") or (
        f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    )
    return origin_of(f"{environ.get('wsgi.url_scheme', 'http')}://{host}")


class TrustedOrigins:
    """Origins other than the site's own that may post: ``https://example.com`` exactly, or
    ``https://*.example.com`` for example.com and every subdomain (same scheme and port)."""

    __slots__ = ("exact", "wildcards")

    def __init__(self, owner: str, origins: Iterable[str]) -> None:
        if isinstance(origins, str) or not isinstance(origins, Iterable):
            raise TypeError(f"{owner}: trusted_origins must be a list of origins, got {origins!r}")
        self.exact: set[str] = set()
        self.wildcards: list[tuple[str, str, str]] = []  # (scheme://, .base, :port)
        for origin in origins:
            wildcard = isinstance(origin, str) and "://*." in origin
            normal = (
                origin_of(origin.replace("://*.", "://", 1)) if isinstance(origin, str) else None
            )
            if normal is None or urlsplit(origin).path not in ("", "/"):
                raise ValueError(
                    f"{owner}: trusted_origins items must be like 'https://example.com' or "
                    f"'https://*.example.com', got {origin!r}"
                )
            if wildcard:
                scheme, _, rest = normal.partition("://")
                host, _, port = rest.partition(":")
                self.wildcards.append((scheme, host, port))
            else:
                self.exact.add(normal)

    def trust(self, origin: str) -> bool:
        if origin in self.exact:
            return True
        scheme, _, rest = origin.partition("://")
        host, _, port = rest.partition(":")
        return any(
            scheme == w_scheme and port == w_port and (host == base or host.endswith("." + base))
            for w_scheme, base, w_port in self.wildcards
        )


def origin_problem(environ: WSGIEnvironment, trusted: TrustedOrigins) -> str | None:
    """What is wrong with where the request comes from, or None (see the module docstring)."""
    own = own_origin(environ)
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None:
        found = origin_of(origin)
        if found is not None and (found == own or trusted.trust(found)):
            return None
        return f"Origin {printable(origin)!r} does not match {own} or a trusted origin"
    if environ.get("wsgi.url_scheme") != "https":
        return None
    referer = environ.get("HTTP_REFERER")
    if not referer:
        return "Referer checking failed: an HTTPS request needs an Origin or Referer header"
    found = origin_of(referer)
    if found is None:
        return "Referer checking failed: the Referer is malformed"
    if not found.startswith("https://"):
        return "Referer checking failed: the Referer is insecure while the site is HTTPS"
    if found == own or trusted.trust(found):
        return None
    return f"Referer checking failed: {found} does not match {own} or a trusted origin"
