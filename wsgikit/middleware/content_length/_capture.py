"""ContentLengthMiddleware's start_response step: hold the headers until the length is known.

Holds the status and headers back until the body's length is known, collects ``write()`` data, and
decides when a response passes through untouched. Private to
:mod:`wsgikit.middleware.content_length`; one instance a request::

    capture = Capture(start_response, limit=1024 * 1024)
    result = app(environ, capture.start_response)
"""

from __future__ import annotations

from collections.abc import Callable

from wsgikit.types import OptExcInfo, StartResponse

__all__ = ["Capture"]

_NO_CONTENT = frozenset({"204", "304"})


def passes_through(status: str, headers: list[tuple[str, str]]) -> bool:
    """True for responses whose framing must stay as the app made it."""
    if type(status) is not str:
        raise TypeError(f"PEP 3333: status must be a str like '200 OK', got {status!r}")
    if type(headers) is not list:
        raise TypeError(f"PEP 3333: headers must be a list of (name, value), got {headers!r}")
    code = status[:3]
    if code[:1] == "1" or code in _NO_CONTENT:
        return True  # RFC 9110 §15.2, §15.3.5, §15.4.5: no content, so no length to add
    for name, value in headers:
        lower = name.lower()
        if lower == "content-length":
            return True
        # WHATWG HTML §9.2: an event stream is open-ended; holding it back would stall it.
        if lower == "content-type" and value[:17].lower() == "text/event-stream":
            return True
    return False


class Capture:
    """One response on its way out: held status/headers, buffered body, and the outer callables."""

    __slots__ = (
        "chunks",
        "committed",
        "exc_info",
        "headers",
        "limit",
        "outer",
        "outer_write",
        "passthrough",
        "size",
        "status",
    )

    def __init__(self, outer: StartResponse, limit: int) -> None:
        self.outer = outer
        self.limit = limit
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.exc_info: OptExcInfo | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.committed = False
        self.passthrough = False
        self.outer_write: Callable[[bytes], object] | None = None

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
    ) -> Callable[[bytes], object]:
        if exc_info is not None and exc_info[0] is not None:
            if self.size:
                # The app has produced body bytes, so for it the response has started: re-raise
                # as a server would (PEP 3333), rather than glue an error page onto half a body.
                raise exc_info[1].with_traceback(exc_info[2])
            if self.committed:
                # Passed through: the server re-raises if its headers are already out (PEP 3333).
                return self.outer(status, headers, exc_info)
        elif self.status is not None:
            raise RuntimeError("PEP 3333: start_response called a second time without exc_info")
        self.status = status
        self.headers = headers
        self.exc_info = exc_info
        if passes_through(status, headers):
            self.passthrough = True
            return self.commit(None)
        return self.write

    def commit(self, length: int | None) -> Callable[[bytes], object]:
        """Call the outer start_response, adding Content-Length when the length is known."""
        assert self.status is not None
        headers = self.headers
        if length is not None:
            headers = [*headers, ("Content-Length", str(length))]  # the app's list stays its own
        exc_info, self.exc_info = self.exc_info, None
        write = self.outer(self.status, headers, exc_info)
        self.outer_write = write
        self.committed = True
        return write

    def write(self, data: bytes) -> None:
        """PEP 3333 write(): buffered like the iterable's chunks, and passed on once too large."""
        if self.outer_write is not None:
            self.outer_write(data)
            return
        if type(data) is not bytes:
            raise TypeError(f"PEP 3333: write() takes bytes, got {type(data).__name__}")
        if data:
            self.chunks.append(data)
            self.size += len(data)
            if self.size > self.limit:
                write = self.commit(None)
                body = b"".join(self.chunks)
                self.chunks.clear()
                write(body)
