"""Answer a HEAD request with the app's status and headers and none of its body.

RFC 9110 §9.3.2: a HEAD response is the GET response without content. Many apps produce the body
anyway (PEP 3333 lets them; the server drops it); middleware that answers for the app drops it
itself, so that what leaves the middleware is a correct HEAD response. Shared by
ContentLengthMiddleware and Dispatcher::

    if environ.get("REQUEST_METHOD") == "HEAD":
        return call_head(app, environ, start_response)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from wsgikit.middleware._close import close_iterable
from wsgikit.types import OptExcInfo, StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["call_head"]


def _discard(data: bytes) -> None:
    """The write() a HEAD app gets: its body goes nowhere."""
    if type(data) is not bytes:
        raise TypeError(f"PEP 3333: write() takes bytes, got {type(data).__name__}")


def call_head(
    app: WSGIApplication, environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    """Call ``app``; pass its status and headers on unchanged, drop its body, close its iterable.

    The iterable is read only until start_response has been called (a generator app calls it
    with its first chunk, PEP 3333), then closed: the rest of the body is never produced.
    """
    started = False

    def head_start_response(
        status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        nonlocal started
        start_response(status, headers, exc_info)
        started = True
        return _discard

    result = app(environ, head_start_response)
    try:
        if not started:
            for _chunk in result:
                if started:
                    break
    finally:
        close_iterable(result)
    if not started:
        raise RuntimeError("PEP 3333: the application never called start_response")
    return []
