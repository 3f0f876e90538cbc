"""GzipMiddleware's response step: one request/response through the coder.

Private to :mod:`wsgikit.middleware.gzip`: the start_response wrapper (which holds the call back
until the body's form is known), write(), and the streaming body that codes chunk by chunk and
always passes close() on::

    exchange = Exchange(middleware, environ, start_response, codec)
    return exchange.body(app(environ, exchange.start_response))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast

from wsgikit.middleware._close import close_iterable
from wsgikit.middleware.gzip._compressors import Codec, Compressor
from wsgikit.middleware.gzip._headers import Headers, plan
from wsgikit.types import OptExcInfo, StartResponse, WSGIEnvironment

if TYPE_CHECKING:
    from wsgikit.middleware.gzip.middleware import GzipMiddleware

__all__ = ["Exchange"]


class Exchange:
    """The state of one response: what start_response said, and the compression stream."""

    __slots__ = (
        "_mw",
        "_start",
        "called",
        "codec",
        "compress",
        "compressor",
        "exc_info",
        "flush_each",
        "forwarded",
        "head",
        "headers",
        "length",
        "plain",
        "real_write",
        "status",
        "took_body",
    )

    def __init__(
        self,
        mw: GzipMiddleware,
        environ: WSGIEnvironment,
        start: StartResponse,
        codec: Codec | None,
    ) -> None:
        self._mw = mw
        self._start = start
        # RFC 9110 §14.2: ranges count bytes of the identity body: a Range request is never coded.
        self.codec = None if "HTTP_RANGE" in environ else codec
        self.head = environ.get("REQUEST_METHOD") == "HEAD"
        self.called = self.forwarded = self.compress = self.flush_each = self.took_body = False
        self.compressor: Compressor | None = None
        self.exc_info: OptExcInfo | None = None
        self.length: int | None = None
        self.status = ""
        self.headers: Headers = []
        self.plain: Headers = []
        self.real_write: Any = None

    def start_response(
        self, status: str, headers: Headers, exc_info: OptExcInfo | None = None
    ) -> Any:
        if exc_info is None:
            if self.called:
                raise RuntimeError("PEP 3333: start_response() called again without exc_info")
        elif self.took_body and exc_info[1] is not None:
            # PEP 3333 (Error Handling): the app's body is already on its way (in the coder if
            # not on the wire), so its headers count as sent: re-raise.
            raise exc_info[1].with_traceback(exc_info[2])
        self.called = True
        self.compressor = None
        self.compress, out, self.length, self.flush_each = plan(
            self._mw, status, headers, self.codec
        )
        self.status, self.headers, self.plain, self.exc_info = status, out, headers, exc_info
        if not self.compress or self.forwarded:
            # Nothing to wait for (or a replacement after an error, PEP 3333 exc_info): send now.
            return self.forward(None)
        # Hold the call until the body's form is known: a list gets a Content-Length.
        return self.write

    def forward(self, length: int | None) -> Any:
        """Call the server's start_response with the final headers."""
        headers = self.headers
        if length is not None:
            headers.append(("Content-Length", str(length)))
        exc_info, self.exc_info = self.exc_info, None  # drop the traceback reference early
        self.forwarded = True
        if exc_info is None:
            self.real_write = self._start(self.status, headers)
        else:
            self.real_write = self._start(self.status, headers, exc_info)
        if self.compress and length is None and not self.head and self.codec is not None:
            self.compressor = self.codec.compressor()
        return self.write if self.compress or self.head else self.real_write

    def write(self, data: bytes) -> None:
        """PEP 3333 write(): compressed through the same stream as the iterable."""
        if not self.forwarded:
            self.forward(None)
        if self.head:  # RFC 9110 §9.3.2: no body for HEAD
            self.took_body = self.took_body or bool(data)
            return
        out = self.feed(data)
        if out:
            self.real_write(out)

    def feed(self, data: bytes) -> bytes:
        if not data:
            return data
        self.took_body = True
        compressor = self.compressor
        if compressor is None:
            return data
        if self.flush_each:  # text/event-stream: each event must reach the client now
            return compressor.compress(data) + compressor.flush()
        return compressor.compress(data)

    def finish(self) -> bytes:
        compressor, self.compressor = self.compressor, None
        return b"" if compressor is None else compressor.finish()

    def body(self, result: Iterable[bytes]) -> Iterable[bytes]:
        """What the middleware returns, once the app has returned ``result``."""
        if not self.called:
            return _Body(self, result)  # PEP 3333: start_response may come with the first chunk
        if self.head:  # RFC 9110 §9.3.2: no body, whatever the app gave
            if not self.forwarded:
                self.forward(self._head_length(result))
            close_iterable(result)
            return []
        if not self.compress:
            return result
        codec = self.codec
        if not self.forwarded and codec is not None and type(result) in (list, tuple):
            chunks = cast("list[bytes]", result)
            size = sum(map(len, chunks))
            if self.length is None and size < self._mw.min_size:
                self.compress = False  # small after all: sent as the app gave it
                self.headers = self.plain
                self.forward(None)
                return result
            if size <= self._mw.max_buffer:  # in memory already: coding it whole adds no latency
                data = codec.compress_all(chunks)
                self.forward(len(data))
                return [data]
        if not self.forwarded:
            self.forward(None)
        return _Body(self, result)

    def _head_length(self, result: Iterable[bytes]) -> int | None:
        """The Content-Length GET would get, when HEAD's body is the full body (RFC 9110 §9.3.2).

        A small non-empty list without a declared length is sent as GET would send it: plain.
        """
        if type(result) not in (list, tuple) or self.codec is None:
            return None
        chunks = cast("list[bytes]", result)
        size = sum(map(len, chunks))
        if self.length is None and 0 < size < self._mw.min_size:
            self.compress = False
            self.headers = self.plain
            return None
        if self.length != size or size > self._mw.max_buffer:
            return None
        return len(self.codec.compress_all(chunks))


class _Body:
    """The streaming iterable: codes chunk by chunk, passes close() to the app's iterable."""

    __slots__ = ("_exchange", "_result")

    def __init__(self, exchange: Exchange, result: Iterable[bytes]) -> None:
        self._exchange = exchange
        self._result = result

    def __iter__(self) -> Iterator[bytes]:
        exchange = self._exchange
        chunks = iter(self._result)
        if not exchange.called:
            first = next(chunks, None)
            if not exchange.called:
                raise RuntimeError("PEP 3333: the app's iterable yielded before start_response()")
            if not exchange.forwarded:
                exchange.forward(None)
            if exchange.head:
                return  # RFC 9110 §9.3.2: no body; close() still reaches the app's iterable
            if first is not None:
                yield exchange.feed(first)
        for chunk in chunks:
            # PEP 3333 "Middleware Handling of Block Boundaries": one yield per inner chunk, even
            # when the coder has nothing to emit yet (b"").
            yield exchange.feed(chunk)
        tail = exchange.finish()
        if tail:
            yield tail

    def close(self) -> None:
        close_iterable(self._result)
