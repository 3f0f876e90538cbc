"""Pass ``close()`` on to the app's iterable: shared by every middleware that wraps a body.

PEP 3333: when the application's iterable has a ``close()`` method, whoever stands in for the
server must call it once the response is over, whether it completed, failed or was abandoned.
ContentLengthMiddleware, Dispatcher (on HEAD), ErrorMiddleware, ErrorDocuments, GzipMiddleware
and SessionMiddleware all hand their wrapped iterable's close() on through here::

    try:
        body = b"".join(result)
    finally:
        close_iterable(result)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

__all__ = ["ClosingBody", "close_iterable"]


def close_iterable(result: object) -> None:
    """Call ``result.close()`` if it has one (PEP 3333); what close() raises propagates."""
    close = getattr(result, "close", None)
    if close is not None:
        close()


class ClosingBody:
    """The app's iterable, passed on, with ``cleanup()`` run after its close() (PEP 3333: the
    server calls close() once the response is over): for what a middleware must release only
    then, such as the copy of a request body the app reads."""

    __slots__ = ("_cleanup", "_result")

    def __init__(self, result: Iterable[bytes], cleanup: Callable[[], object]) -> None:
        self._result, self._cleanup = result, cleanup

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close_iterable(self._result)
        finally:
            self._cleanup()
