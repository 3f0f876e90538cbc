"""What one request does with the session store: load the incoming session, decide the cookie when
the headers go out, save or delete the server-side record after the body. Private to the package.

Used by :mod:`._exchange`, which decides *when* each step happens::

    state = Persistence(codec, store, secure, environ)
    state.session["user"] = 1      # loads through state.load() on first use
    cookie = state.set_cookie()    # at header time
    error = state.save(request_line)   # at the body's end, for server-side stores
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from wsgikit.middleware.sessions._codec import Codec, dump_json, load_json
from wsgikit.middleware.sessions._cookie import CookieStore
from wsgikit.middleware.sessions._errors import SessionError
from wsgikit.middleware.sessions._store import ServerStore
from wsgikit.middleware.sessions.session import Session
from wsgikit.types import WSGIEnvironment

log = logging.getLogger("wsgikit.sessions")


class Persistence:
    """The session of one request and its way to and from the store."""

    def __init__(
        self,
        codec: Codec,
        store: CookieStore | ServerStore,
        secure: bool | None,
        environ: WSGIEnvironment,
    ) -> None:
        self.codec, self.store, self.environ = codec, store, environ
        self.secure = environ.get("wsgi.url_scheme") == "https" if secure is None else secure
        self.session = Session(self)
        self.pending = False  # a server-side save or delete is due after the body
        self.committed: str | None = None  # the id the client holds after this response
        self.payload: str | None = None  # the JSON as it was at header time
        self.obsolete: list[str] = []  # ids to delete after the body (regenerate, invalidate)
        self._candidates: list[str] | None = None

    def candidates(self) -> list[str]:
        if self._candidates is None:
            self._candidates = self.codec.candidates(self.environ)
        return self._candidates

    def load(self) -> tuple[dict[str, Any], str | None, bool]:
        """The first valid incoming session; tampered, expired and unknown ones are skipped."""
        codec, store = self.codec, self.store
        for value in self.candidates():
            if isinstance(store, CookieStore):
                data, old = codec.read_data(value)
                if data is not None:
                    return data, value, old
                continue
            sid, old = codec.read_id(value)
            if sid is None:
                continue
            text = store.load(sid)  # StoreUnavailableError: the app sees it, we answer 503
            data = None if text is None else load_json(text)
            if data is not None:
                return data, sid, old
        return {}, None, False

    def incoming_ids(self) -> list[str]:
        """Ids of every validly signed incoming cookie, whether or not the store knows them."""
        ids = (self.codec.read_id(value)[0] for value in self.candidates())
        return [sid for sid in ids if sid is not None]

    def set_cookie(self) -> str | None:
        """The Set-Cookie of a changed session at header time; plans a server-side save too.

        Raises SessionTooLargeError / SessionDataError while nothing has been sent yet.
        """
        codec, session = self.codec, self.session
        data = session._data
        if isinstance(self.store, CookieStore):
            if not data:
                return codec.expire_cookie(self.secure) if self.candidates() else None
            value = codec.sign_data(data)
            self.store.check_size(codec.name, value)
            return codec.set_cookie(value, self.secure)
        sid = session._key if data and not session._regenerate else None
        if data and sid is None:
            sid = secrets.token_urlsafe(32)  # 256 bits from the OS CSPRNG (OWASP: >= 64)
        self.payload = dump_json(data) if data else None
        if session._regenerate or session._invalidated or not data:
            self.obsolete = [old for old in self.incoming_ids() if old != sid]
        self.pending, self.committed = True, sid
        if sid is not None:
            return codec.set_cookie(codec.sign_id(sid), self.secure)
        return codec.expire_cookie(self.secure) if self.candidates() else None

    def save(self, request_line: str) -> Exception | None:
        """Write the server-side record once the body is complete; the store's error, if any,
        is logged and returned (never raised): the caller cuts the response with it."""
        try:
            self._save(request_line)
        except SessionError as exc:
            log.error("session not saved, the response is cut short: %s: %s", request_line, exc)
            return exc
        except Exception as exc:  # a bug in a custom store: the same, with its traceback
            log.exception("session not saved, the response is cut short: %s", request_line)
            return exc
        return None

    def _save(self, request_line: str) -> None:
        session, store = self.session, self.store
        late = session._modified  # changed after the headers went out
        if isinstance(store, CookieStore):
            if late:
                log.warning(
                    "session changed after the headers were sent; a cookie session cannot "
                    "be saved then, the change is lost: %s",
                    request_line,
                )
            return
        if not (self.pending or late):
            return
        sid = self.committed if self.pending else session._key
        data = session._data or {}
        if late and session._invalidated:  # logout while streaming: forget every id
            self.obsolete += [*self.incoming_ids(), *([sid] if sid else [])]
            sid = None
        elif late and session._regenerate:
            log.warning("regenerate() after the headers were sent keeps the id: %s", request_line)
        for old in self.obsolete:
            store.delete(old)
        if sid is None:
            if data:
                log.warning(
                    "a new session changed after the headers were sent has no cookie and "
                    "is not saved: %s",
                    request_line,
                )
            return
        if not data:
            store.delete(sid)
            return
        payload = self.payload if self.payload is not None and not late else dump_json(data)
        store.save(sid, payload, self.codec.max_age)
