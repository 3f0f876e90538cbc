"""Every example is importable and serves correctly, validated on both sides of the stack."""

from __future__ import annotations

import gzip
import json
import logging
from typing import Any
from wsgiref.validate import validator

import pytest

from examples import demo
from wsgikit.lint import LintMiddleware
from wsgikit.testing import Result, call_app

Stack = Any


@pytest.fixture
def stack() -> Stack:
    # The demo's apps wrapped in validate/lint (app side), the whole stack again (server side).
    return validator(LintMiddleware(demo.app))


def get(stack: Stack, path: str, **kwargs: Any) -> Result:
    return call_app(stack, path=path, **kwargs)


def test_site_page_counts_visits_in_the_session(stack: Stack) -> None:
    first = get(stack, "/")
    assert first.status_code == 200
    assert b"visit number 1" in first.body
    cookie = first.header("Set-Cookie")
    assert cookie is not None
    assert first.header("Content-Length") == str(len(first.body))
    second = get(stack, "/", headers={"Cookie": cookie.split(";")[0]})
    assert b"visit number 2" in second.body


def test_api_is_mounted_with_script_name(stack: Stack) -> None:
    result = get(stack, "/api/hello")
    assert result.status_code == 200
    assert json.loads(result.body) == {
        "hello": "world",
        "script_name": "/api",
        "path_info": "/hello",
    }


def test_api_slash_redirect(stack: Stack) -> None:
    result = get(stack, "/api", query="x=1")
    assert result.status_code == 301
    assert result.header("Location") is not None
    assert result.header("Location").endswith("/api/?x=1")  # type: ignore[union-attr]


def test_error_page(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        result = get(stack, "/api/boom", headers={"Accept": "text/html"})
    assert result.status_code == 500
    assert b"<html" in result.body.lower()
    assert b"on purpose" not in result.body  # no details without debug
    assert "on purpose" in caplog.text


def test_missing_page_gets_the_error_document(stack: Stack) -> None:
    result = get(stack, "/nowhere")
    assert result.status_code == 404
    assert b"Nothing here" in result.body


def test_gzip_for_clients_that_ask(stack: Stack) -> None:
    result = get(stack, "/", headers={"Accept-Encoding": "gzip"})
    assert result.header("Content-Encoding") == "gzip"
    assert b"wsgikit demo" in gzip.decompress(result.body)
    assert "Accept-Encoding" in (result.header("Vary") or "")


def test_head_has_get_headers_and_no_body(stack: Stack) -> None:
    result = get(stack, "/", method="HEAD")
    assert result.status_code == 200
    assert result.body == b""
