"""SessionMiddleware: a lazily loaded, signed session at ``environ["wsgikit.session"]``.

Use it to remember a user between requests. The default :class:`CookieStore` keeps the session
in a signed cookie; :class:`SQLiteStore`, :class:`RedisStore` (and :class:`MemoryStore` for
tests) keep it on the server under a random id::

    app = SessionMiddleware(app, secret=os.environ["SESSION_SECRET"], store=SQLiteStore("s.db"))

When things happen (PEP 3333 lets the headers go out before the body, so a save cannot wait for
the body and still set a cookie):
- the session loads on first use only; routes that never touch it never touch the store;
- at header time (the app's first body chunk, its first write(), or the end of an empty body)
  a read session adds ``Vary: Cookie`` and a changed one gets its Set-Cookie: for CookieStore
  this *is* the save (a session over the size limit gives a logged 500 instead of the response);
  for server stores it carries the id;
- server stores save **when the app's body is over**, so changes made while streaming are kept
  if the client already had a session; a new session changed only after header time, and any
  CookieStore change after it, cannot reach the client: logged as a warning and dropped;
- nothing is saved for 5xx responses, errors, or bodies the server stopped reading early;
- a store that is down when the session loads gives a 503 and an error log line (logger
  ``wsgikit.sessions``). For the save at the end, the body goes out one chunk late while a
  server-side save may be due (the session was used), and the last chunk only once the save
  succeeded: if it fails (store down, read-only, locked) the error is logged and the response
  is cut (short of its Content-Length, or without the last chunk), so the client sees it fail
  rather than a complete 200 for a change that was lost. Only that one chunk is held.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from wsgikit.middleware._cookies import (
    check_attributes,
    check_max_age,
    check_name,
    check_secret,
)
from wsgikit.middleware.sessions._codec import Codec
from wsgikit.middleware.sessions._cookie import CookieStore
from wsgikit.middleware.sessions._exchange import Exchange
from wsgikit.middleware.sessions._persist import Persistence
from wsgikit.middleware.sessions._store import ServerStore
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["SessionMiddleware"]

ENVIRON_KEY = "wsgikit.session"
#: The default cookie name: one no popular framework uses ("session" is Flask's, Starlette's and
#: Pyramid's, "sessionid" Django's, "beaker.session.id" Beaker's, "PHPSESSID" PHP's), so that a
#: session middleware mounted beside them does not overwrite their cookie or they ours.
DEFAULT_COOKIE_NAME = "wsgikit_session"


class SessionMiddleware:
    """Give ``app`` a session at ``environ["wsgikit.session"]`` (a :class:`Session`).

    ``secret`` signs the cookie (the current key) and ``secret_fallbacks`` are older keys still
    accepted, re-signed with ``secret`` when seen. ``max_age`` (seconds or a timedelta) bounds
    both the cookie and the stored record, counted from the last save. ``secure=None`` marks the
    cookie Secure on https requests only. ``cookie_name`` defaults to ``"wsgikit_session"``;
    if the wrapped app sets a cookie of that name itself, a warning is logged (once) on
    ``wsgikit.sessions``: two Set-Cookie headers of one name overwrite each other in the browser.
    A request offering several values of the cookie (paths, domains) has each distinct value
    checked once, at most 8 of them (``MAX_CANDIDATES``): a header repeating one id hundreds of
    times costs one store lookup, not hundreds.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        secret: str | bytes,
        store: CookieStore | ServerStore | None = None,
        cookie_name: str = DEFAULT_COOKIE_NAME,
        max_age: int | timedelta = timedelta(days=14),
        secure: bool | None = None,
        httponly: bool = True,
        samesite: str | None = "Lax",
        path: str = "/",
        domain: str | None = None,
        secret_fallbacks: Sequence[str | bytes] = (),
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a WSGI application, got {app!r}")
        secret = check_secret("secret", secret)
        if isinstance(secret_fallbacks, str | bytes) or not isinstance(secret_fallbacks, Iterable):
            raise TypeError("secret_fallbacks must be a sequence of str or bytes secrets")
        fallbacks = [check_secret("secret_fallbacks item", s) for s in secret_fallbacks]
        if store is None:
            store = CookieStore()
        elif not isinstance(store, CookieStore | ServerStore):
            raise TypeError(f"store must be a CookieStore or a ServerStore, got {store!r}")
        cookie_name = check_name("SessionMiddleware", "cookie_name", cookie_name)
        seconds = check_max_age("SessionMiddleware", "max_age", max_age)
        samesite = check_attributes(
            "SessionMiddleware",
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )
        self.app = app
        self.store = store
        self.secure = secure
        self.codec = Codec(
            secret=secret,
            fallbacks=fallbacks,
            name=cookie_name,
            max_age=seconds,
            httponly=httponly,
            samesite=samesite,
            path=path,
            domain=domain,
            secure=secure,
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        state = Persistence(self.codec, self.store, self.secure, environ)
        exchange = Exchange(state, start_response)
        environ[ENVIRON_KEY] = exchange.session
        return exchange.run(self.app)

    def __repr__(self) -> str:
        return f"SessionMiddleware({self.app!r}, store={self.store!r})"
