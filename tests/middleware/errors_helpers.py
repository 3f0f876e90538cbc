"""Apps and helpers shared by the ErrorMiddleware tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from wsgikit.testing import Result, call_app, make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

TEXT = ("Content-Type", "text/plain")
# Built at run time: the debug page shows source lines, which must not count as a leak.
RUNTIME_SECRET = "-".join(["hunter2", "runtime"])
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class Boom(Exception):
    """What the test apps raise."""


def fail_before_start(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    raise Boom("failed <early> & loud")


def fail_after_start(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [TEXT, ("Content-Length", "99")])
    raise Boom("failed after start_response")


class Closing:
    """An iterable that records close() and can fail in next() or close()."""

    def __init__(self, chunks: list[bytes], *, fail_at: int = -1, fail_close: bool = False):
        self.chunks, self.fail_at, self.fail_close = chunks, fail_at, fail_close
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_at:
                raise Boom(f"failed at chunk {index}")
            yield chunk
        if self.fail_at == len(self.chunks):
            raise Boom("failed at the end")

    def close(self) -> None:
        self.closed += 1
        if self.fail_close:
            raise Boom("failed in close")


def app_returning(body: Closing) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        return body

    return app


class Server:
    """A server's start_response that records every call; ``strict`` re-raises exc_info once
    body bytes were sent (PEP 3333), a sloppy one does not."""

    def __init__(self, *, strict: bool = True) -> None:
        self.strict = strict
        self.calls: list[tuple[str, list[tuple[str, str]], Any]] = []
        self.sent: list[bytes] = []

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        self.calls.append((status, headers, exc_info))
        if exc_info is not None and self.sent and self.strict:
            raise exc_info[1].with_traceback(exc_info[2])
        return self.sent.append

    def run(self, app: WSGIApplication, environ: WSGIEnvironment | None = None) -> None:
        result = app(environ or make_environ(), self.start_response)
        try:
            for chunk in result:
                if chunk:
                    self.sent.append(chunk)
        finally:
            getattr(result, "close", lambda: None)()


def get(app: WSGIApplication, path: str = "/", **kwargs: Any) -> Result:
    return call_app(app, path=path, **kwargs)
