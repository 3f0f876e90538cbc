"""The iterable SessionMiddleware returns: the app's body, with the headers handed on at its first
chunk and the server-side save done at its end. Private to the package.

When a server-side save may be due, each chunk goes out when the next one comes (b"" meanwhile,
as PEP 3333 asks) and the last one only once the save succeeded; if it failed, the iterable
raises so that the server cuts the response (short of its Content-Length, or without the last
chunk): a client never sees a complete answer for a session change that was lost. Only one
chunk is held. The app's iterable is always closed, also when the server stops early::

    body = Body(exchange, app_iterable)   # for chunk in body: ...; body.close()
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from wsgikit.middleware._close import close_iterable
from wsgikit.middleware.sessions._errors import StoreUnavailableError

if TYPE_CHECKING:
    from wsgikit.middleware.sessions._exchange import Exchange


class Body:
    """The response body as the server sees it."""

    __slots__ = ("closed", "done", "ex", "it", "result", "saved")

    def __init__(self, exchange: Exchange, result: Iterable[bytes]) -> None:
        self.ex, self.result = exchange, result
        self.it: Iterator[bytes] | None = None
        self.done = self.closed = False  # done: the app's body is over
        self.saved = False  # the end-of-body save was done (or tried)

    def __iter__(self) -> Body:
        return self

    def __next__(self) -> bytes:
        ex = self.ex
        if ex.replaced:
            return self._error_body()
        if self.done:
            return self._end()
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
            return self._end()
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
        return ex.swap(chunk) if ex.holds() else chunk

    def _end(self) -> bytes:
        """The app's body is over: save, then hand on the held chunk; or raise the store's
        error, so that the server cuts the response (PEP 3333: the headers are out)."""
        if not self.saved:
            self.saved = True
            error = self.ex.save()
            held, self.ex.held = self.ex.held, None
            if error is not None:
                raise error
            if held:
                return held
        raise StopIteration

    def _error_body(self) -> bytes:
        body, self.ex.error_body = self.ex.error_body, None
        if body is None:
            raise StopIteration
        return body

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        # If the app's close() fails, nothing is saved: the error propagates.
        close_iterable(self.result)
        if self.done and not self.saved:  # HEAD: no body to hold back, only a save to do
            self.saved = True
            self.ex.save()  # never raises; a failure is logged
