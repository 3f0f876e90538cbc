"""The middleware library: one middleware a module, each re-exported here.

Example::

    from wsgikit import pipeline
    from wsgikit.middleware import ErrorMiddleware, GzipMiddleware, Dispatcher

    app = pipeline(ErrorMiddleware, GzipMiddleware, app=Dispatcher({"/": site, "/api": api}))
"""

from __future__ import annotations

from wsgikit.middleware.content_length import ContentLengthMiddleware
from wsgikit.middleware.dispatch import Dispatcher
from wsgikit.middleware.error_documents import ErrorDocuments
from wsgikit.middleware.errors import ErrorMiddleware, SMTPNotifier, from_addresses
from wsgikit.middleware.gzip import DEFAULT_MIME_TYPES, GzipMiddleware
from wsgikit.middleware.sessions import (
    CookieStore,
    MemoryStore,
    RedisStore,
    ServerStore,
    Session,
    SessionDataError,
    SessionError,
    SessionMiddleware,
    SessionTooLargeError,
    SQLiteStore,
    StoreUnavailableError,
)

__all__ = [
    "ContentLengthMiddleware",
    "CookieStore",
    "DEFAULT_MIME_TYPES",
    "Dispatcher",
    "ErrorDocuments",
    "ErrorMiddleware",
    "GzipMiddleware",
    "MemoryStore",
    "RedisStore",
    "SMTPNotifier",
    "SQLiteStore",
    "ServerStore",
    "Session",
    "SessionDataError",
    "SessionError",
    "SessionMiddleware",
    "SessionTooLargeError",
    "StoreUnavailableError",
    "from_addresses",
]
