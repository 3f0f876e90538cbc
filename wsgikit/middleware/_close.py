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

__all__ = ["close_iterable"]


def close_iterable(result: object) -> None:
    """Call ``result.close()`` if it has one (PEP 3333); what close() raises propagates."""
    close = getattr(result, "close", None)
    if close is not None:
        close()
