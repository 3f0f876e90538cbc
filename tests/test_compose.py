"""pipeline(): order, partials, and clear errors."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import pytest

from wsgikit.compose import pipeline
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ.get("trail", "").encode()]


class Tag:
    def __init__(self, app: WSGIApplication, *, name: str) -> None:
        self.app = app
        self.name = name

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["trail"] = environ.get("trail", "") + self.name
        return self.app(environ, start_response)


def call(wsgi: WSGIApplication) -> bytes:
    return b"".join(wsgi({}, lambda status, headers, exc_info=None: None))  # type: ignore[arg-type]


def test_first_layer_is_outermost() -> None:
    stack = pipeline(functools.partial(Tag, name="a"), functools.partial(Tag, name="b"), app=app)
    assert isinstance(stack, Tag)
    assert stack.name == "a"
    assert call(stack) == b"ab"


def test_no_layers_returns_app() -> None:
    assert pipeline(app=app) is app


def test_non_callable_layer_is_named() -> None:
    with pytest.raises(TypeError, match="layer 1"):
        pipeline(functools.partial(Tag, name="a"), "gzip", app=app)  # type: ignore[arg-type]


def test_layer_returning_non_app_is_named() -> None:
    def broken(inner: Any) -> Any:
        return None

    with pytest.raises(TypeError, match="layer 0 \\(test_layer_returning_non_app_is_named"):
        pipeline(broken, app=app)


def test_app_must_be_callable() -> None:
    with pytest.raises(TypeError, match="app must be a WSGI callable"):
        pipeline(app="not an app")  # type: ignore[arg-type]
