"""One request through SessionMiddleware, the PEP 3333 side: the wrapped start_response and
write(), header time, and the middleware's own 500/503 answers. Private to the package.

The headers are handed to the server at the last moment PEP 3333 allows (the app's first body
chunk, its first write(), or the end of an empty body), so that session changes made until then
still reach the Set-Cookie header; :mod:`._persist` decides what that header says::

    exchange = Exchange(Persistence(codec, store, secure, environ), start_response)
    environ["wsgikit.session"] = exchange.session
    return exchange.run(app)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from wsgikit.middleware._cookies import varies_by_cookie
from wsgikit.middleware.sessions._body import Body
from wsgikit.middleware.sessions._cookie import CookieStore
from wsgikit.middleware.sessions._errors import SessionError, StoreUnavailableError
from wsgikit.middleware.sessions._persist import Persistence, log
from wsgikit.types import OptExcInfo, StartResponse, WSGIApplication

_TEXT = "text/plain; charset=utf-8"


class Exchange:
    """The state of one request; see the module docstring."""

    def __init__(self, state: Persistence, start_response: StartResponse) -> None:
        self.state, self.session, self.environ = state, state.session, state.environ
        self.server_start = start_response
        self.head = self.environ.get("REQUEST_METHOD") == "HEAD"
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.exc_info: OptExcInfo | None = None
        self.server_write: Callable[[bytes], object] | None = None  # set: headers handed on
        self.failed = False  # an error response: nothing is saved
        self.replaced = False  # our own 500/503 replaced the app's response
        self.error_body: bytes | None = None  # its body, until sent
        self.hold = False  # the last body chunk waits for the server-side save
        self.held: bytes | None = None  # that chunk, until the next one or the save

    # --- the app's side of PEP 3333 ------------------------------------------------------------
    def run(self, app: WSGIApplication) -> Iterable[bytes]:
        try:
            result = app(self.environ, self.start_response)
        except StoreUnavailableError as exc:
            if self.server_write is not None:
                raise  # too late for a 503: the server closes the connection
            self.unavailable(exc)
            return [self.error_body] if self.error_body else []
        if (
            type(result) is list
            and self.status is not None
            and self.server_write is None
            and not self.head
        ):
            # A finished list: no app code runs any more, so decide now and, unless a
            # server-side save is due after the body, hand the list on untouched.
            self.send_headers()
            if self.replaced:
                return [self.error_body] if self.error_body else []
            if not self.state.pending:
                return result
        return Body(self, result)

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        if exc_info is not None:
            self.failed = True
            if self.held is not None:
                # PEP 3333: once body bytes were given the headers count as sent, so exc_info is
                # re-raised, as the server would had the chunk not been held back for the save.
                self.held = None
                if exc_info[1] is not None:
                    raise exc_info[1].with_traceback(exc_info[2])
            if self.server_write is not None:
                # PEP 3333: once handed on, the server decides; it re-raises if already sent.
                self.server_write = self.server_start(status, headers, exc_info)
                return self.write
        elif self.status is not None:
            raise RuntimeError("PEP 3333: start_response called a second time without exc_info")
        self.status, self.headers, self.exc_info = status, headers, exc_info
        return self.write

    def write(self, data: bytes) -> None:
        if self.server_write is None:
            self.send_headers()
        if self.replaced:
            body, self.error_body = self.error_body, None
            data = body or b""
        elif self.head:
            return  # RFC 9110 §9.3.2: no body for HEAD
        elif self.holds():
            data = self.swap(data)
            if not data:
                return
        assert self.server_write is not None
        self.server_write(data)

    # --- header time ---------------------------------------------------------------------------
    def send_headers(self) -> None:
        """Add Vary and Set-Cookie and hand the headers on, or replace them by a 500/503."""
        status, session = self.status, self.session
        if status is None:
            raise RuntimeError("PEP 3333: the app sent its body before calling start_response")
        if not isinstance(status, str) or status.startswith("5"):
            self.failed = True
        if session._error is not None and self.failed:
            # The app turned the store's failure into an error page of its own: it is a 503.
            self.unavailable(session._error)
            return
        if self.state.codec.clashes(self.headers):
            log.warning(
                "the app sets a cookie named %r, the session cookie's name: the two overwrite "
                "each other in the browser; give SessionMiddleware another cookie_name (%s)",
                self.state.codec.name,
                self.request_line(),
            )
        extra: list[tuple[str, str]] = []
        if session.accessed and not varies_by_cookie(self.headers):
            extra.append(("Vary", "Cookie"))  # RFC 9110 §12.5.5: the response used the cookie
        if session._modified and not self.failed:
            try:
                cookie = self.state.set_cookie()
            except SessionError as exc:  # too large, not JSON: a clear 500, nothing sent yet
                log.error("session not saved, answering 500: %s: %s", self.request_line(), exc)
                self.replace("500 Internal Server Error", b"Internal Server Error\n")
                return
            if cookie is not None:
                extra.append(("Set-Cookie", cookie))
            session._modified = session._regenerate = session._invalidated = False
        headers = [*self.headers, *extra] if extra else self.headers
        self.server_write = self.server_start(status, headers, self.exc_info)
        self.exc_info = None

    def unavailable(self, exc: SessionError) -> None:
        log.error("session store unavailable, answering 503: %s: %s", self.request_line(), exc)
        self.replace("503 Service Unavailable", b"Service Unavailable: session store is down\n")

    def replace(self, status: str, body: bytes) -> None:
        self.failed = self.replaced = True
        headers = [("Content-Type", _TEXT), ("Content-Length", str(len(body)))]
        self.error_body = None if self.head else body
        self.server_write = self.server_start(status, headers)

    def request_line(self) -> str:
        env = self.environ
        path = env.get("SCRIPT_NAME", "") + env.get("PATH_INFO", "")
        return f"{env.get('REQUEST_METHOD', '?')} {path}"

    # --- the end of the body ---------------------------------------------------------------------
    def holds(self) -> bool:
        """Whether the body goes out one chunk late: a server-side save may be due at its end,
        and the client must not see a complete response unless that save succeeded."""
        if not self.hold:
            self.hold = (
                not isinstance(self.state.store, CookieStore)
                and not (self.failed or self.head)
                and (self.state.pending or self.session.accessed)
            )
        return self.hold

    def swap(self, data: bytes) -> bytes:
        """Hold ``data`` back and give what was held before (b"" the first time, PEP 3333's
        answer for a middleware that needs more before it can yield)."""
        if not data:
            return b""
        held, self.held = self.held, data
        return held or b""

    def save(self) -> Exception | None:
        """At the end of the body: the server-side save; its error, logged, if it failed."""
        if self.failed:
            return None
        return self.state.save(self.request_line())
