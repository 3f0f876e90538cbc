"""ErrorMiddleware's answering step: the plain error page, its media type and its headers.

Private to :mod:`wsgikit.middleware.errors`. Content negotiation between HTML, plain text and
JSON (WebOb's Accept parsing), the page without details (500, or a client error's 4xx), the
headers every error page gets, and :func:`from_addresses`, the usual answer to who may see the
details::

    media_type = negotiate(environ)          # "text/html", "text/plain", "application/json", ...
    body = simple_page(media_type, "a1b2c3d4")
    start_response(STATUS, error_headers(media_type, body))
"""

from __future__ import annotations

import html
import ipaddress
import json
from collections.abc import Callable
from http import HTTPStatus

from wsgikit.middleware._request_text import printable
from wsgikit.middleware._webob import create_accept_header
from wsgikit.types import WSGIEnvironment

__all__ = [
    "CSP",
    "OFFERS",
    "STATUS",
    "client_status",
    "content_type",
    "from_addresses",
    "negotiate",
    "error_headers",
    "simple_page",
]

STATUS = "500 Internal Server Error"
_MESSAGE = (
    "The server encountered an unexpected condition that prevented it from fulfilling the request."
)

# Ties go to the first offer: clients that send no Accept, or "*/*" (curl, scripts), get plain
# text; browsers ask for text/html explicitly and get HTML (RFC 9110 §12.5.1).
OFFERS = ("text/plain", "text/html", "application/json", "application/problem+json")
#: The HTML pages' Content-Security-Policy. No script, no frames, no network: the pages need
#: only their inline style.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


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
    details are rendered by :mod:`._debug` instead.
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
    text = f"{status}\n\n{printable(message)}\n"
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


def error_headers(media_type: str, body: bytes) -> list[tuple[str, str]]:
    """The headers of an error page (500 or a client error's) of ``media_type``."""
    headers = [
        ("Content-Type", content_type(media_type)),
        ("Content-Length", str(len(body))),
        ("Vary", "Accept"),  # RFC 9110 §12.5.5: the page was negotiated on Accept
        ("Cache-Control", "no-store"),  # an error (or a traceback) is never to be cached
        ("X-Content-Type-Options", "nosniff"),
    ]
    if media_type == "text/html":
        headers.append(("Content-Security-Policy", CSP))
    return headers


def client_status(code: int) -> str:
    """The status line of a ClientError's code; 400 for one that is not a 4xx status."""
    try:
        status = HTTPStatus(code)
    except ValueError:
        status = HTTPStatus.BAD_REQUEST
    if not 400 <= status.value <= 499:  # RFC 9110 §15.5: a client error is a 4xx
        status = HTTPStatus.BAD_REQUEST
    return f"{status.value} {status.phrase}"
