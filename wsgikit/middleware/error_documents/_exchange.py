"""ErrorDocuments' response step: hold the app's status, then pass the response or replace it.

Private to :mod:`wsgikit.middleware.error_documents`. :class:`Exchange` holds the app's status
until its body starts, then hands the response on untouched or replaces it (sub-request,
fallback, loop answer, redirect); :class:`Resume` gives back the chunks read early to learn a
lazy app's status::

    exchange = Exchange(middleware, environ, start_response)
    return exchange.respond(app(environ, exchange.start_response))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit
from wsgiref.util import application_uri

from wsgikit.middleware._close import close_iterable
from wsgikit.middleware._request_text import request_line
from wsgikit.middleware.error_documents import _forward as forward
from wsgikit.types import OptExcInfo, StartResponse, WSGIEnvironment

if TYPE_CHECKING:
    from wsgikit.middleware.error_documents.middleware import ErrorDocuments

__all__ = ["MAX_DEPTH", "Exchange", "Resume", "code"]

MAX_DEPTH = 4  # nested error-document sub-requests before it is called a loop
_log = logging.getLogger("wsgikit.error")


def code(status: str) -> int:
    """The status code of a status line, 0 if it has none (the server will refuse it)."""
    return int(status[:3]) if status[:3].isdigit() else 0


class Exchange:
    """One request: hold the app's status until its body starts, then pass it or replace it."""

    __slots__ = (
        "environ",
        "exc_info",
        "headers",
        "middleware",
        "mount",
        "outer",
        "replace",
        "status",
        "write_to",
    )
    # Set by start_response (before any read) and when the response is handed on: not in
    # __init__, which runs for every request.
    headers: list[tuple[str, str]]
    exc_info: OptExcInfo | None
    write_to: Callable[[bytes], object]

    def __init__(
        self, middleware: ErrorDocuments, environ: WSGIEnvironment, outer: StartResponse
    ) -> None:
        self.middleware = middleware
        self.environ = environ
        # Where this layer sits, taken now: routers below (Dispatcher, werkzeug, paste) move
        # SCRIPT_NAME/PATH_INFO in place, and the document lives under *this* layer's root.
        self.mount = (environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""))
        self.outer = outer
        self.status: str | None = None
        self.replace: bool | None = None  # undecided until the body starts

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
    ) -> Callable[[bytes], object]:
        if self.replace is False:  # already handed on: the server applies PEP 3333's rules
            self.write_to = self.outer(status, headers, exc_info)
        else:
            self.status, self.headers, self.exc_info = status, headers, exc_info
        return self.write

    def decide(self) -> bool:
        """Whether the response is replaced; if not, hand its status and headers on."""
        replace = self.replace
        if replace is None:
            status = self.status
            assert status is not None
            replace = self.replace = status[:3] in self.middleware.codes
            if not replace:
                self.write_to = self.outer(status, self.headers, self.exc_info)
        return replace

    def write(self, data: bytes) -> None:
        if not self.decide() and self.environ.get("REQUEST_METHOD") != "HEAD":
            self.write_to(data)  # a replaced body is dropped

    def respond(self, result: Iterable[bytes]) -> Iterable[bytes]:
        pending: list[bytes] = []
        iterator: Iterator[bytes] | None = None
        try:
            if self.status is None:  # PEP 3333: start_response may wait for the first chunk
                iterator = iter(result)
                for chunk in iterator:
                    pending.append(chunk)
                    if self.status is not None:
                        break
            replace = self.status is not None and self.decide()
        except BaseException:
            close_iterable(result)
            raise
        if replace:
            close_iterable(result)
            return self.replacement()
        if self.status is None or self.environ.get("REQUEST_METHOD") == "HEAD":
            # No start_response at all: pass what there is, the server reports the broken app.
            # HEAD: RFC 9110 §9.3.2, no content.
            close_iterable(result)
            return pending if self.status is None else []
        if iterator is None:
            return result  # untouched: no per-chunk cost
        return Resume(pending, iterator, result)

    def send(self, status: str, headers: list[tuple[str, str]], body: bytes) -> list[bytes]:
        # Nothing was sent yet, so the app's exc_info (if any) lets the server replace headers.
        self.outer(status, headers, self.exc_info)
        return [] if self.environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def fallback(self, status: str) -> list[bytes]:
        """The original status with a short plain body: the document could not be had."""
        return self.send(status, *forward.plain(status, forward.without_body_headers(self.headers)))

    def replacement(self) -> list[bytes]:
        status, environ, middleware = self.status, self.environ, self.middleware
        assert status is not None
        target = middleware.documents.get(code(status))
        if target is None:  # a later start_response(exc_info) chose an undocumented status
            return self.fallback(status)
        chain = environ.get(forward.CHAIN, ())
        if target in chain or len(chain) >= MAX_DEPTH:
            _log.error(
                "error document loop for %s: %r then %r", request_line(environ), chain, target
            )
            return self.send(
                "500 Internal Server Error", *forward.plain("500 Internal Server Error")
            )
        if not middleware.internal:
            return self.redirect(status, target)
        try:
            sub = forward.subrequest_environ(environ, target, status, self.mount)
            got, headers, body = forward.fetch(middleware.app, sub)
        except Exception:
            _log.exception("error document %r for %s failed", target, request_line(environ))
            return self.fallback(status)
        if not got.startswith("2"):  # RFC 9110 §15.3: only a 2xx response is the document
            _log.error("error document %r for %s answered %r", target, request_line(environ), got)
            return self.fallback(status)
        return self.send(status, forward.merge_headers(self.headers, headers, len(body)), body)

    def redirect(self, status: str, target: str) -> list[bytes]:
        environ = self.environ
        parts = urlsplit(target)
        if parts.netloc:
            location = target
            here = parts.netloc == environ.get("HTTP_HOST")
        else:
            # RFC 9110 §10.2.2: an absolute URL, the target taken under this app's SCRIPT_NAME.
            root = {**environ, "SCRIPT_NAME": self.mount[0]}
            location = application_uri(root).rstrip("/") + target
            here = True
        path = str(self.mount[0]) + str(self.mount[1])
        if here and unquote(urlsplit(location).path, "latin-1") == path:
            return self.fallback(status)  # the error page itself failed: do not loop
        body = f"302 Found: {location}\n".encode("latin-1", "replace")
        headers = [
            ("Location", location),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ]
        return self.send("302 Found", headers, body)


class Resume:
    """The app's iterable after the chunks read to learn its status; close() reaches the app."""

    __slots__ = ("_closed", "_iterator", "_pending", "_result")

    def __init__(
        self, pending: list[bytes], iterator: Iterator[bytes], result: Iterable[bytes]
    ) -> None:
        self._pending = pending
        self._iterator = iterator
        self._result = result
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._pending:
            return self._pending.pop(0)
        return next(self._iterator)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            close_iterable(self._result)
