"""Content-Length for responses that lack it: :class:`ContentLengthMiddleware`.

The class lives in :mod:`.middleware`; ``_capture`` is its start_response step, which holds the
headers back until the body's length is known::

    from wsgikit.middleware.content_length import ContentLengthMiddleware

    app = ContentLengthMiddleware(app, max_buffer=256 * 1024)
"""

from __future__ import annotations

from wsgikit.middleware.content_length.middleware import ContentLengthMiddleware

__all__ = ["ContentLengthMiddleware"]
