"""ErrorDocuments' fetching step: the internal sub-request for the document, and its headers.

Private to :mod:`wsgikit.middleware.error_documents`. Builds the sub-request's environ (GET, no
body, no conditional or range headers, the original request recorded under
``wsgikit.error_documents.*``), runs it to completion, and merges the headers of the original
response with those of the error document::

    sub = subrequest_environ(environ, "/errors/404", "404 Not Found")
    status, headers, body = fetch(app, sub)
    merged = merge_headers(original_headers, headers, len(body))
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from urllib.parse import unquote_to_bytes

from wsgikit.middleware._close import close_iterable
from wsgikit.types import OptExcInfo, WSGIApplication, WSGIEnvironment

__all__ = [
    "CHAIN",
    "ORIGINAL_METHOD",
    "ORIGINAL_PATH_INFO",
    "ORIGINAL_QUERY_STRING",
    "ORIGINAL_STATUS",
    "fetch",
    "merge_headers",
    "plain",
    "subrequest_environ",
    "without_body_headers",
]

#: Environ key of the error-document targets already being fetched for this request (a tuple):
#: the recursion marker.
CHAIN = "wsgikit.error_documents.chain"
#: The original response's status line and request, for the error page to show.
ORIGINAL_STATUS = "wsgikit.error_documents.status"
ORIGINAL_PATH_INFO = "wsgikit.error_documents.path_info"
ORIGINAL_QUERY_STRING = "wsgikit.error_documents.query_string"
ORIGINAL_METHOD = "wsgikit.error_documents.method"

# Request headers that would make the document app answer 304 / 206 / 412 instead of the page
# (RFC 9110 §13.1, §14.2), or describe a body the sub-request does not have.
_DROPPED = frozenset(
    {
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "HTTP_IF_MATCH",
        "HTTP_IF_NONE_MATCH",
        "HTTP_IF_MODIFIED_SINCE",
        "HTTP_IF_UNMODIFIED_SINCE",
        "HTTP_IF_RANGE",
        "HTTP_RANGE",
        "HTTP_TRANSFER_ENCODING",
        "REQUEST_URI",  # server extras that would name the original URL
        "RAW_URI",
    }
)
# Headers that describe the original body; the document brings its own (RFC 9110 §8).
_BODY_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "content-language",
        "content-range",
        "content-location",
        "content-md5",
        "content-disposition",
        "etag",
        "last-modified",
        "accept-ranges",
    }
)
_FROM_DOCUMENT = frozenset({"content-type", "content-encoding", "content-language", "vary"})

Headers = list[tuple[str, str]]


def subrequest_environ(
    environ: WSGIEnvironment, target: str, status: str, mount: tuple[str, str]
) -> WSGIEnvironment:
    """A GET for ``target`` (a path, maybe with ``?query``) under the layer's SCRIPT_NAME.

    ``mount`` is (SCRIPT_NAME, PATH_INFO) as they were when the request entered the layer.
    """
    sub = {key: value for key, value in environ.items() if key not in _DROPPED}
    path, _, query = target.partition("?")
    sub["REQUEST_METHOD"] = "GET"
    sub["SCRIPT_NAME"] = mount[0]
    # PEP 3333: PATH_INFO is the decoded path, its bytes carried as latin-1 characters.
    sub["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1")
    sub["QUERY_STRING"] = query
    sub["wsgi.input"] = io.BytesIO(b"")
    sub["wsgi.input_terminated"] = True
    sub[CHAIN] = (*environ.get(CHAIN, ()), target)
    sub[ORIGINAL_STATUS] = status
    sub[ORIGINAL_PATH_INFO] = mount[1]
    sub[ORIGINAL_QUERY_STRING] = environ.get("QUERY_STRING", "")
    sub[ORIGINAL_METHOD] = environ.get("REQUEST_METHOD", "GET")
    return sub


class _Capture:
    __slots__ = ("chunks", "headers", "status")

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: Headers = []
        self.chunks: list[bytes] = []

    def start_response(
        self, status: str, headers: Headers, exc_info: OptExcInfo | None = None, /
    ) -> Callable[[bytes], object]:
        # Nothing was sent: a second call (with exc_info, PEP 3333) simply replaces the first.
        self.status, self.headers = status, list(headers)
        return self.chunks.append


def fetch(app: WSGIApplication, environ: WSGIEnvironment) -> tuple[str, Headers, bytes]:
    """Run the sub-request to the end; its iterable is always closed. Exceptions propagate;
    RuntimeError when the app never called start_response, TypeError for a non-bytes body."""
    capture = _Capture()
    result = app(environ, capture.start_response)
    try:
        for chunk in result:
            capture.chunks.append(chunk)
    finally:
        close_iterable(result)
    if capture.status is None:
        raise RuntimeError("PEP 3333: the error document app never called start_response")
    return capture.status, capture.headers, b"".join(capture.chunks)


def without_body_headers(original: Headers) -> Headers:
    """The original response's headers (WWW-Authenticate, Allow, Retry-After, Set-Cookie ...)
    without those that describe its body."""
    return [(name, value) for name, value in original if name.lower() not in _BODY_HEADERS]


def merge_headers(original: Headers, document: Headers, length: int) -> Headers:
    """:func:`without_body_headers` of the original, the document's body headers (and Vary),
    and a fresh Content-Length (RFC 9110 §8.6)."""
    merged = without_body_headers(original)
    merged += [(name, value) for name, value in document if name.lower() in _FROM_DOCUMENT]
    merged.append(("Content-Length", str(length)))
    return merged


def plain(status: str, extra: Sequence[tuple[str, str]] = ()) -> tuple[Headers, bytes]:
    """Headers and body of a short plain-text answer that just names ``status``."""
    body = f"{status}\n".encode("latin-1", "replace")
    headers = [
        *extra,
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]
    return headers, body
