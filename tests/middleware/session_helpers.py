"""Apps, stores and helpers shared by the SessionMiddleware tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from wsgikit.middleware.sessions import (
    MemoryStore,
    Session,
    SessionMiddleware,
)
from wsgikit.testing import Result, call_app
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

SECRET = "test-secret-0123456789abcdef"
OLD_SECRET = "old-secret-0123456789abcdef"
TEXT = [("Content-Type", "text/plain")]
App = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]


class Recording(MemoryStore):
    """A MemoryStore that logs every call: ("load" | "save" | "delete", session id)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def load(self, session_id: str) -> str | None:
        self.calls.append(("load", session_id))
        return super().load(session_id)

    def save(self, session_id: str, payload: str, max_age: int) -> None:
        self.calls.append(("save", session_id))
        super().save(session_id, payload, max_age)

    def delete(self, session_id: str) -> None:
        self.calls.append(("delete", session_id))
        super().delete(session_id)

    def saved_ids(self) -> list[str]:
        return [sid for call, sid in self.calls if call == "save"]


class Closing:
    """An app iterable that records close()."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks, self.closed = chunks, False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def session_of(environ: WSGIEnvironment) -> Session:
    session: Session = environ["wsgikit.session"]
    return session


def action(do: Callable[[Session], object], status: str = "200 OK") -> WSGIApplication:
    """An app that does ``do(session)`` and answers its result as the body."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = repr(do(session_of(environ))).encode()
        start_response(status, [*TEXT, ("Content-Length", str(len(body)))])
        return [body]

    return app


def increment(session: Session) -> int:
    count: int = session.get("n", 0) + 1
    session["n"] = count
    return count


counter = action(increment)
reader = action(lambda s: s.get("n"))


def untouched(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [*TEXT, ("Content-Length", "2")])
    return [b"ok"]


def mw(app: WSGIApplication, **options: Any) -> SessionMiddleware:
    return SessionMiddleware(app, **{"secret": SECRET, **options})


def cookie_of(result: Result) -> str:
    """``name=value`` of the response's Set-Cookie."""
    headers = result.header_list("Set-Cookie")
    assert len(headers) == 1, headers
    return headers[0].split(";", 1)[0]


def get(app: WSGIApplication, cookie: str | None = None, **kwargs: Any) -> Result:
    return call_app(app, headers={"Cookie": cookie} if cookie else None, **kwargs)


def attributes(result: Result) -> dict[str, str]:
    parts = [p.strip() for p in (result.header("Set-Cookie") or "").split(";")[1:]]
    return {k.lower(): v for k, _, v in (p.partition("=") for p in parts)}
