"""Set Content-Length on responses that lack it, so that HTTP/1.x keep-alive survives.

Use it around apps that return generators (or call ``write()``) for small responses: without a
length the server must chunk the body (HTTP/1.1) or close the connection after it (HTTP/1.0,
RFC 9112 §6.3). Bodies up to ``max_buffer`` bytes are buffered and sent with a Content-Length;
larger ones stream, with small chunks coalesced to at least ``min_chunk`` bytes::

    from wsgikit.middleware.content_length import ContentLengthMiddleware

    app = ContentLengthMiddleware(app, max_buffer=256 * 1024)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from wsgikit.middleware._close import close_iterable
from wsgikit.middleware._head_response import call_head
from wsgikit.middleware._options import app_option, size_option
from wsgikit.middleware.content_length._capture import Capture
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ContentLengthMiddleware"]


class ContentLengthMiddleware:
    """Buffer responses without Content-Length up to ``max_buffer`` bytes and set the header.

    Left as they are (nothing buffered): HEAD requests (their body is dropped, RFC 9110
    §9.3.2), 1xx/204/304 responses (RFC 9110 §8.6: they have no content), responses that
    already have Content-Length, ``text/event-stream`` responses (buffering would stall the
    stream) and ``wsgi.file_wrapper`` bodies (the server sends those with sendfile and knows
    their size). Larger bodies stream without a length, coalesced to at least ``min_chunk``
    bytes a write (``min_chunk=0`` forwards chunks as they come, for latency-sensitive
    streams). The inner iterable is always closed: after buffering, on errors, and when the
    caller closes the stream early.
    """

    __slots__ = ("app", "max_buffer", "min_chunk")

    def __init__(
        self, app: WSGIApplication, *, max_buffer: int = 1024 * 1024, min_chunk: int = 8 * 1024
    ) -> None:
        self.app = app_option("ContentLengthMiddleware", app)
        self.max_buffer = size_option("ContentLengthMiddleware", "max_buffer", max_buffer)
        self.min_chunk = size_option("ContentLengthMiddleware", "min_chunk", min_chunk)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "HEAD":
            # RFC 9110 §9.3.2: the app may or may not have made the GET body, so its length says
            # nothing; headers go out as they are, and the body is dropped.
            return call_head(self.app, environ, start_response)
        capture = Capture(start_response, self.max_buffer)
        result = self.app(environ, capture.start_response)
        if capture.passthrough:
            return result  # the app's own framing stands; close() reaches it directly
        try:
            wrapper = environ.get("wsgi.file_wrapper")
            if (
                capture.status is not None
                and isinstance(wrapper, type)
                and isinstance(result, wrapper)
            ):
                capture.commit(None)
                return result
            stream = self._fill(capture, result)
        except BaseException:
            close_iterable(result)
            raise
        if stream is not None:
            return stream
        close_iterable(result)  # the whole body is in hand: the app is done (PEP 3333 close())
        if capture.status is None:
            raise RuntimeError("PEP 3333: the application never called start_response")
        if capture.committed:  # write() outgrew the buffer; what was left is small
            return capture.chunks
        body = b"".join(capture.chunks)
        capture.commit(len(body))
        return [body]

    def _fill(self, capture: Capture, result: Iterable[bytes]) -> _Stream | None:
        """Read the body until it ends (None) or outgrows max_buffer (the rest, to stream)."""
        chunks = capture.chunks
        limit = self.max_buffer
        iterator = iter(result)
        for chunk in iterator:
            if capture.passthrough:
                # A lazy start_response chose pass-through: forward this chunk and the rest as-is.
                return _Stream(result, iterator, [chunk] if chunk else [], 0)
            if chunk:
                chunks.append(chunk)
                capture.size += len(chunk)
                if capture.size > limit:
                    if not capture.committed:
                        capture.commit(None)
                    return _Stream(result, iterator, chunks, self.min_chunk)
        return None


class _Stream:
    """The rest of a large body: coalesced chunks, close() passed to the inner iterable."""

    __slots__ = ("_iterator", "_min_chunk", "_pending", "_result")

    def __init__(
        self,
        result: Iterable[bytes],
        iterator: Iterator[bytes],
        pending: list[bytes],
        min_chunk: int,
    ) -> None:
        self._result = result
        self._iterator = iterator
        self._pending = pending
        self._min_chunk = min_chunk

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks()

    def _chunks(self) -> Iterator[bytes]:
        pending = self._pending
        min_chunk = self._min_chunk
        size = sum(map(len, pending))  # what was buffered: max_buffer may be below min_chunk
        if pending and size >= min_chunk:
            yield b"".join(pending)
            pending.clear()
            size = 0
        for chunk in self._iterator:
            if not chunk:
                continue
            if min_chunk <= len(chunk) and not pending:
                yield chunk  # large enough on its own: no copy
                continue
            pending.append(chunk)
            size += len(chunk)
            if size >= min_chunk:
                yield b"".join(pending)
                pending.clear()
                size = 0
        if pending:
            yield b"".join(pending)
            pending.clear()

    def close(self) -> None:
        self._pending.clear()
        close_iterable(self._result)
