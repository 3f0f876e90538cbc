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

import re
from collections.abc import Iterable, Sequence
from datetime import timedelta

from wsgikit._wsgi_rules import is_token  # RFC 6265 §4.1.1: a cookie-name is a token
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
_attr_text = re.compile(r"[\x21-\x3a\x3c-\x7e]+\Z").match  # RFC 6265 §4.1.1: no CTL, space, ";"
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


def _check_secret(name: str, secret: object) -> str | bytes:
    if not isinstance(secret, str | bytes):
        raise TypeError(f"{name} must be a str or bytes, got {type(secret).__name__}")
    if len(secret) < 16:
        raise ValueError(f"{name} must be at least 16 characters; use secrets.token_hex(32)")
    return secret


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
        secret = _check_secret("secret", secret)
        if isinstance(secret_fallbacks, str | bytes) or not isinstance(secret_fallbacks, Iterable):
            raise TypeError("secret_fallbacks must be a sequence of str or bytes secrets")
        fallbacks = [_check_secret("secret_fallbacks item", s) for s in secret_fallbacks]
        if store is None:
            store = CookieStore()
        elif not isinstance(store, CookieStore | ServerStore):
            raise TypeError(f"store must be a CookieStore or a ServerStore, got {store!r}")
        if not isinstance(cookie_name, str) or not is_token(cookie_name):
            raise ValueError(f"cookie_name must be a token (RFC 6265 §4.1.1), got {cookie_name!r}")
        if isinstance(max_age, timedelta):
            max_age = int(max_age.total_seconds())
        if type(max_age) is not int or max_age <= 0:
            raise ValueError(f"max_age must be a positive number of seconds, got {max_age!r}")
        if secure is not None and not isinstance(secure, bool):
            raise TypeError(f"secure must be True, False or None (by scheme), got {secure!r}")
        if not isinstance(httponly, bool):
            raise TypeError(f"httponly must be True or False, got {httponly!r}")
        if samesite is not None:
            if not isinstance(samesite, str) or samesite.lower() not in _SAMESITE:
                raise ValueError(
                    f"samesite must be 'Strict', 'Lax', 'None' or None, got {samesite!r}"
                )
            samesite = _SAMESITE[samesite.lower()]
            if samesite == "None" and secure is not True:
                # Browsers drop SameSite=None cookies that are not Secure (RFC 6265bis §4.1.2.7).
                raise ValueError("samesite='None' needs secure=True")
        if not isinstance(path, str) or not path.startswith("/") or not _attr_text(path):
            raise ValueError(f"path must start with '/' and hold no space, ';' or CTL: {path!r}")
        if domain is not None and (not isinstance(domain, str) or not _attr_text(domain)):
            raise ValueError(f"domain must be a host name like 'example.com', got {domain!r}")
        self.app = app
        self.store = store
        self.secure = secure
        self.codec = Codec(
            secret=secret,
            fallbacks=fallbacks,
            name=cookie_name,
            max_age=max_age,
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
