"""The iterable SessionMiddleware returns: the app's body, with the headers handed on at its first
chunk and the server-side save done at close() once it was fully sent. Private to the package.

PEP 3333: the middleware yields each chunk as it comes (no buffering) and always closes the
app's iterable, also when the server stops early or a chunk raises::

    body = Body(exchange, app_iterable)   # for chunk in body: ...; body.close()
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from wsgikit.middleware.sessions._errors import StoreUnavailableError

if TYPE_CHECKING:
    from wsgikit.middleware.sessions._exchange import Exchange


class Body:
    """The response body as the server sees it."""

    __slots__ = ("closed", "done", "ex", "it", "result")

    def __init__(self, exchange: Exchange, result: Iterable[bytes]) -> None:
        self.ex, self.result = exchange, result
        self.it: Iterator[bytes] | None = None
        self.done = self.closed = False  # done: the server has had every chunk

    def __iter__(self) -> Body:
        return self

    def __next__(self) -> bytes:
        ex = self.ex
        if ex.replaced:
            return self._error_body()
        try:
            if self.it is None:
                self.it = iter(self.result)
            chunk = next(self.it)
        except StopIteration:
            if ex.server_write is None:  # an empty body: header time is now
                ex.send_headers()
                if ex.replaced:
                    return self._error_body()
            self.done = True
            raise
        except StoreUnavailableError as exc:  # raised while streaming, by session use
            if ex.server_write is not None:
                raise  # too late for a 503: the server closes the connection
            ex.unavailable(exc)
            return self._error_body()
        if ex.server_write is None:
            ex.send_headers()  # PEP 3333: start_response before the first chunk, even b""
            if ex.replaced:
                return self._error_body()
        if ex.head:  # RFC 9110 §9.3.2: the headers are out, the app's body is not sent
            self.done = True
            raise StopIteration
        return chunk

    def _error_body(self) -> bytes:
        body, self.ex.error_body = self.ex.error_body, None
        if body is None:
            raise StopIteration
        return body

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        close = getattr(self.result, "close", None)
        if close is not None:
            close()  # if the app's close() fails, nothing is saved: the error propagates
        if self.done:
            self.ex.save()  # "after the body is fully sent" (the rule); never raises
