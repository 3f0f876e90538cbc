"""A lenient caller and small apps shared by the LintMiddleware tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from wsgikit.lint import LintMiddleware
from wsgikit.testing import make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

TEXT = ("Content-Type", "text/plain")


class Lenient:
    """A server that checks nothing, so that what fails is the lint's own check."""

    def __init__(self, *, write_result: Any = None, reraise: bool = True) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.written: list[bytes] = []
        self.write_result = write_result
        self.reraise = reraise

    def start_response(self, *args: Any) -> Any:
        self.calls.append(args)
        if len(args) == 3 and args[2] is not None and self.reraise and self.written:
            raise args[2][1]
        return self.write_result or self.written.append

    def run(self, app: Any, environ: WSGIEnvironment | None = None) -> bytes:
        iterable = app(make_environ() if environ is None else environ, self.start_response)
        try:
            for chunk in iterable:
                self.written.append(chunk)
        finally:
            iterable.close()
        return b"".join(self.written)


def responding(
    status: Any = "200 OK", headers: Any = None, body: Iterable[Any] = (b"hello",)
) -> WSGIApplication:
    """An app that answers with exactly these (maybe broken) arguments."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response(status, [TEXT] if headers is None else headers)
        return list(body)

    return app


def run_app(app: Any, **environ: Any) -> bytes:
    return Lenient().run(LintMiddleware(app), make_environ(**environ))


def using_input(action: Callable[[Any], object]) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        action(environ["wsgi.input"])
        start_response("200 OK", [TEXT])
        return []

    return app
