"""The plain 500 page of :class:`~wsgikit.middleware.errors.ErrorMiddleware` and what it shares.

Content negotiation between HTML, plain text and JSON (WebOb's Accept parsing), a log-safe request
line, and the rule that masks secrets (cookies, credentials, tokens) wherever a request is shown::

    media_type = negotiate(environ)          # "text/html", "text/plain", "application/json", ...
    body = simple_page(media_type, "a1b2c3d4")
    log.error("%s failed", request_line(environ))
"""

from __future__ import annotations

import html
import ipaddress
import json
import re
import warnings
from collections.abc import Callable

from wsgikit.types import WSGIEnvironment

with warnings.catch_warnings():
    # WebOb 1.8 imports the stdlib ``cgi`` module, deprecated by PEP 594 (Python 3.11): the
    # warning is about WebOb's import, not about anything wsgikit does.
    warnings.simplefilter("ignore", DeprecationWarning)
    # WebOb ships no type hints ("unused-ignore" keeps this quiet if stubs get installed).
    from webob.acceptparse import create_accept_header  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "MASK",
    "OFFERS",
    "QUERY_KEYS",
    "STATUS",
    "content_type",
    "from_addresses",
    "is_secret",
    "mask_query",
    "negotiate",
    "request_line",
    "simple_page",
]

STATUS = "500 Internal Server Error"
MASK = "******** (masked)"
_MESSAGE = (
    "The server encountered an unexpected condition that prevented it from fulfilling the request."
)

# Ties go to the first offer: clients that send no Accept, or "*/*" (curl, scripts), get plain
# text; browsers ask for text/html explicitly and get HTML (RFC 9110 §12.5.1).
OFFERS = ("text/plain", "text/html", "application/json", "application/problem+json")

# Names whose values are credentials: request headers as CGI variables (HTTP_COOKIE,
# HTTP_AUTHORIZATION, HTTP_X_API_KEY), app settings in the environ, local variables, query
# parameters. Matched case-insensitively anywhere in the name.
_SECRET_WORDS = (
    "AUTHORIZATION",
    "COOKIE",
    "CREDENTIAL",
    "PASSWD",
    "PASSWORD",
    "SECRET",
    "SESSION",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
)
#: Environ keys whose values carry a query string (CGI, and servers' extras).
QUERY_KEYS = frozenset({"QUERY_STRING", "REQUEST_URI", "RAW_URI"})
_QUERY_PAIR = re.compile(r"([^&;=]*)(=?)([^&;]*)")
# Anything that could forge a log line or a terminal sequence is shown escaped (\n, \x1b, ...).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def is_secret(name: str) -> bool:
    """True when a value stored under ``name`` must not be shown (environ key, local, parameter)."""
    upper = name.upper().replace("-", "_")
    return any(word in upper for word in _SECRET_WORDS)


def mask_query(query: str) -> str:
    """``user=ann&password=x`` → ``user=ann&password=********``: secret parameters masked."""
    if not query:
        return query

    def pair(match: re.Match[str]) -> str:
        name, equals, value = match.groups()
        if equals and value and is_secret(name):
            return f"{name}=********"
        return match.group(0)

    return _QUERY_PAIR.sub(pair, query)


def _printable(text: str) -> str:
    return _UNPRINTABLE.sub(lambda m: repr(m.group(0))[1:-1], text)


def request_line(environ: WSGIEnvironment) -> str:
    """``GET /script/path?q=1 HTTP/1.1`` rebuilt from the environ, safe for a one-line log record.

    PATH_INFO is latin-1 "bytes as str" (PEP 3333); control characters are shown escaped so that a
    crafted URL cannot forge log lines, and secret query parameters are masked.
    """
    method = str(environ.get("REQUEST_METHOD", "-"))
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    query = mask_query(str(environ.get("QUERY_STRING", "")))
    target = f"{path}?{query}" if query else path
    protocol = str(environ.get("SERVER_PROTOCOL", "-"))
    return " ".join(_printable(part) for part in (method, target or "/", protocol))


def negotiate(environ: WSGIEnvironment) -> str:
    """The media type of the error page: the client's best by ``Accept`` q-values among
    :data:`OFFERS`; plain text when none is acceptable (RFC 9110 §12.1 lets a server disregard
    Accept rather than send a 406 for an error)."""
    accept = create_accept_header(environ.get("HTTP_ACCEPT"))
    offers = accept.acceptable_offers(OFFERS)
    return str(offers[0][0]) if offers else "text/plain"


def content_type(media_type: str) -> str:
    """The Content-Type header for a page of ``media_type`` (always UTF-8)."""
    return f"{media_type}; charset=utf-8" if media_type.startswith("text/") else media_type


def simple_page(
    media_type: str,
    error_id: str,
    *,
    traceback_text: str | None = None,
    status: str = STATUS,
    message: str = _MESSAGE,
) -> bytes:
    """The error page without details, or with a plain-text traceback when one is given.

    ``status`` is the status line ("500 Internal Server Error" unless given) and ``message``
    the sentence under it; an empty ``error_id`` leaves the reference out. HTML pages with
    details are rendered by :mod:`._errorpage_debug` instead.
    """
    code, _, title = status.partition(" ")
    if media_type.startswith("application/"):
        # RFC 9457 problem details; "error_id" and "traceback" are extension members.
        problem: dict[str, object] = {
            "type": "about:blank",
            "title": title,
            "status": int(code),
            "detail": message,
        }
        if error_id:
            problem["error_id"] = error_id
        if traceback_text is not None:
            problem["traceback"] = traceback_text.splitlines()
        return json.dumps(problem, indent=1).encode("utf-8")
    if media_type == "text/html":
        ref = f"\n<p>Error reference: <code>{html.escape(error_id)}</code></p>" if error_id else ""
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(status)}</title></head>\n<body><h1>{html.escape(title)}</h1>\n"
            f"<p>{html.escape(message)}</p>{ref}</body></html>\n"
        ).encode()
    text = f"{status}\n\n{_printable(message)}\n"
    if error_id:
        text += f"Error reference: {error_id}\n"
    if traceback_text is not None:
        text += "\n" + traceback_text
    return text.encode("utf-8", "replace")


def from_addresses(*networks: str) -> Callable[[WSGIEnvironment], bool]:
    """A ``show_details_to`` predicate: true for clients whose REMOTE_ADDR is in ``networks``.

    ``from_addresses("127.0.0.1", "::1", "10.0.0.0/8")``. Behind a proxy REMOTE_ADDR is the
    proxy's address unless a proxy-fix middleware runs first. Raises ValueError for a bad network.
    """
    nets = [ipaddress.ip_network(net, strict=False) for net in networks]

    def allowed(environ: WSGIEnvironment) -> bool:
        try:
            address = ipaddress.ip_address(str(environ.get("REMOTE_ADDR", "")).split("%")[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # "::ffff:127.0.0.1" from a dual-stack socket
        return any(address in net for net in nets)

    return allowed
