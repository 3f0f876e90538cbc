"""The middleware library, each middleware re-exported here.

A middleware that needs more than one module is a subpackage (``errors/``, ``gzip/``, ...):
``middleware.py`` holds the class and ``_*.py`` its steps. The private modules at this root
(``_close``, ``_cookies``, ``_head_response``, ``_options``, ``_paths``, ``_request_text``) are
the helpers that two middleware or more share.

Example::

    from wsgikit import pipeline
    from wsgikit.middleware import ErrorMiddleware, GzipMiddleware, Dispatcher

    app = pipeline(ErrorMiddleware, GzipMiddleware, app=Dispatcher({"/": site, "/api": api}))
"""

from __future__ import annotations

from wsgikit.middleware.basic_auth import BasicAuth
from wsgikit.middleware.content_length import ContentLengthMiddleware
from wsgikit.middleware.csrf import CSRF, CSRFToken
from wsgikit.middleware.dispatch import Dispatcher
from wsgikit.middleware.error_documents import ErrorDocuments
from wsgikit.middleware.errors import ErrorMiddleware, SMTPNotifier, from_addresses
from wsgikit.middleware.gzip import DEFAULT_MIME_TYPES, GzipMiddleware
from wsgikit.middleware.proxy_fix import ProxyFix
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
from wsgikit.middleware.signed_cookies import SignedCookieJar, SignedCookies
from wsgikit.middleware.static import CompressReport, StaticFiles, compress_directory

__all__ = [
    "BasicAuth",
    "CSRF",
    "CSRFToken",
    "CompressReport",
    "ContentLengthMiddleware",
    "CookieStore",
    "DEFAULT_MIME_TYPES",
    "Dispatcher",
    "ErrorDocuments",
    "ErrorMiddleware",
    "GzipMiddleware",
    "MemoryStore",
    "ProxyFix",
    "RedisStore",
    "SMTPNotifier",
    "SQLiteStore",
    "ServerStore",
    "Session",
    "SessionDataError",
    "SessionError",
    "SessionMiddleware",
    "SessionTooLargeError",
    "SignedCookieJar",
    "SignedCookies",
    "StaticFiles",
    "StoreUnavailableError",
    "compress_directory",
    "from_addresses",
]
