"""Sessions for WSGI apps: :class:`SessionMiddleware` and its stores.

Use :class:`CookieStore` (the default) for small sessions without server state,
:class:`SQLiteStore` for server-side sessions on one machine, :class:`RedisStore` across machines,
and :class:`MemoryStore` in tests::

    from wsgikit.middleware.sessions import SessionMiddleware, SQLiteStore
    app = SessionMiddleware(app, secret=SECRET, store=SQLiteStore("/var/lib/app/sessions.db"))

    def app(environ, start_response):
        session = environ["wsgikit.session"]
        session["visits"] = session.get("visits", 0) + 1
"""

from __future__ import annotations

from wsgikit.middleware.sessions._cookie import CookieStore
from wsgikit.middleware.sessions._errors import (
    SessionDataError,
    SessionError,
    SessionTooLargeError,
    StoreUnavailableError,
)
from wsgikit.middleware.sessions._memory import MemoryStore
from wsgikit.middleware.sessions._redis import RedisStore
from wsgikit.middleware.sessions._sqlite import SQLiteStore
from wsgikit.middleware.sessions._store import ServerStore
from wsgikit.middleware.sessions.middleware import SessionMiddleware
from wsgikit.middleware.sessions.session import Session

__all__ = [
    "CookieStore",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "ServerStore",
    "Session",
    "SessionDataError",
    "SessionError",
    "SessionMiddleware",
    "SessionTooLargeError",
    "StoreUnavailableError",
]
