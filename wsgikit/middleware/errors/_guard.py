"""ErrorMiddleware's response step: errors raised while the body is produced or closed.

:class:`Guarded` wraps the app's iterable: it hands exceptions from iteration and ``close()`` to
the middleware, knowing whether body bytes went out. On HEAD, :class:`HeadStart` stands between
the app and the server's start_response so that the body (written or returned) is dropped::

    result = app(environ, start_response)
    return Guarded(middleware, environ, start_response, result)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from wsgikit.middleware._close import close_iterable
from wsgikit.types import ExcInfo, OptExcInfo, StartResponse, WSGIEnvironment

__all__ = ["Guarded", "Handler", "HeadStart", "caught"]


class Handler(Protocol):
    """What :class:`Guarded` needs of the middleware."""

    def failed(
        self, environ: WSGIEnvironment, start_response: StartResponse, sent: bool, exc_info: ExcInfo
    ) -> list[bytes]: ...

    def report(self, environ: WSGIEnvironment, exc_info: ExcInfo, what: str = "") -> str: ...


def caught() -> ExcInfo:
    """``sys.exc_info()`` inside an ``except`` block, where it is never (None, None, None)."""
    exc = sys.exception()
    assert exc is not None
    return type(exc), exc, exc.__traceback__  # type: ignore[return-value]


class HeadStart:
    """start_response for a HEAD request: headers go through, ``write()`` data does not
    (RFC 9110 §9.3.2: a HEAD response has no content)."""

    __slots__ = ("called", "outer")

    def __init__(self, outer: StartResponse) -> None:
        self.outer = outer
        self.called = False

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
    ) -> Callable[[bytes], object]:
        self.outer(status, headers, exc_info)
        self.called = True
        return self.write

    def write(self, data: bytes) -> None:
        """Dropped: HEAD."""


class Guarded:
    """The app's iterable with its errors handled; ``close()`` reaches it exactly once."""

    __slots__ = ("_closed", "_environ", "_head", "_middleware", "_result", "_start_response")

    def __init__(
        self,
        middleware: Handler,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        result: Iterable[bytes],
        head: HeadStart | None = None,
    ) -> None:
        self._middleware = middleware
        self._environ = environ
        self._start_response = start_response
        self._result = result
        self._head = head
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks() if self._head is None else self._head_chunks(self._head)

    def _chunks(self) -> Iterator[bytes]:
        sent = False  # PEP 3333: headers go out with the first non-empty chunk
        page = None
        try:
            for chunk in self._result:
                sent = sent or bool(chunk)
                yield chunk
        except Exception:
            page = self._middleware.failed(self._environ, self._start_response, sent, caught())
        if page is not None:  # outside the except block: do not keep the traceback alive
            yield from page

    def _head_chunks(self, head: HeadStart) -> Iterator[bytes]:
        page = None
        try:
            if not head.called:  # PEP 3333: start_response may wait for the first chunk
                for _ in self._result:
                    if head.called:
                        break
        except Exception:
            page = self._middleware.failed(self._environ, self._start_response, False, caught())
        if page is not None:
            yield from page

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close_iterable(self._result)
        except Exception:
            # The body is over (or abandoned): there is nothing left to answer, only to report.
            self._middleware.report(self._environ, caught(), " closing the response")
