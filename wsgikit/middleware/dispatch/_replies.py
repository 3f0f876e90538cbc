"""Dispatcher's answering step, for requests no mounted app gets: the slash redirect, the 404.

Private to :mod:`wsgikit.middleware.dispatch`; both are small text/plain responses with a
Content-Length, and a HEAD gets the same headers with no body (RFC 9110 §9.3.2)::

    return add_slash(environ, start_response, "/admin")   # 301 Location: /admin/
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from wsgikit.types import StartResponse, WSGIEnvironment

__all__ = ["add_slash", "no_mount"]

_NOT_FOUND = b"Not Found\n\nNo application is mounted at this URL.\n"
# RFC 3986 §3.3 pchar plus "/": what may stay unescaped in a Location path.
_PATH_SAFE = "/:@!$&'()*+,;=~"
_QUERY_SAFE = _PATH_SAFE + "?%"  # RFC 3986 §3.4; "%" kept: the query string is still encoded


def no_mount(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """404: nothing is mounted at this URL."""
    return _plain(environ, start_response, "404 Not Found", _NOT_FOUND, [])


def add_slash(
    environ: WSGIEnvironment, start_response: StartResponse, prefix: str
) -> Iterable[bytes]:
    """Redirect ``.../prefix`` to ``.../prefix/``, built from SCRIPT_NAME, the query kept.

    301 for GET and HEAD; 308 for other methods, so that a POST is repeated as a POST with its
    body rather than turned into a GET (RFC 9110 §15.4.2, §15.4.9).
    """
    target = _quote(environ.get("SCRIPT_NAME", "") + prefix + "/", _PATH_SAFE)
    # A Location starting "//" would be protocol-relative: another host (RFC 3986 §4.2).
    location = "/" + target.lstrip("/")
    query = environ.get("QUERY_STRING")
    if query:
        location += "?" + _quote(query, _QUERY_SAFE)
    if environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD"):
        status = "301 Moved Permanently"
    else:
        status = "308 Permanent Redirect"
    body = f"{status[4:]}: {location}\n".encode("latin-1")
    return _plain(environ, start_response, status, body, [("Location", location)])


def _quote(text: str, safe: str) -> str:
    """Percent-encode a PEP 3333 bytes-as-str value for a header (RFC 3986 §2.1)."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:  # a server that gave real text rather than bytes-as-str
        raw = text.encode("utf-8")
    return quote(raw, safe=safe)


def _plain(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    status: str,
    body: bytes,
    headers: list[tuple[str, str]],
) -> Iterable[bytes]:
    """A small text/plain response; a HEAD gets the same headers and no body (RFC 9110 §9.3.2)."""
    start_response(
        status,
        [
            *headers,
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ],
    )
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
