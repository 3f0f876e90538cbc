"""Every example is importable and serves correctly, validated on both sides of the stack."""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest
import requests
from paste.deploy import loadapp  # type: ignore[import-untyped]

from examples import demo
from tests.integration import free_port
from tests.peers.gateway_checks import nginx_params
from tests.peers.helpers import ROOT, Peer, run_wsgikit, start_nginx, world_readable_dir
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


# --- Flask and Django under one Dispatcher (a subprocess: Django's settings are per process) ----


@pytest.fixture(scope="module")
def frameworks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    directory = tmp_path_factory.mktemp("frameworks")
    with contextlib.ExitStack() as stack:
        with pytest.MonkeyPatch.context() as env:
            # Another test's in-process Django project may have set it (the server would inherit
            # it): the example sets its own.
            env.delenv("DJANGO_SETTINGS_MODULE", raising=False)
            peer = stack.enter_context(
                run_wsgikit(directory, "serve", "examples.frameworks.app:app")
            )
        yield peer


@pytest.mark.parametrize("framework", ["flask", "django"])
def test_framework_links_carry_the_mount_prefix(frameworks: Peer, framework: str) -> None:
    page = requests.get(frameworks.url(f"/{framework}/"), timeout=10)
    assert page.status_code == 200
    assert f'href="/{framework}/hello/world"' in page.text
    assert f'href="/{framework}/boom"' in page.text


@pytest.mark.parametrize("framework", ["flask", "django"])
def test_framework_sees_its_mount_as_script_name(frameworks: Peer, framework: str) -> None:
    got = requests.get(frameworks.url(f"/{framework}/hello/ann"), timeout=10).json()
    assert got == {"hello": "ann", "url": f"/{framework}/hello/ann", "root": f"/{framework}"}


def test_one_session_spans_both_frameworks(frameworks: Peer) -> None:
    with requests.Session() as client:
        assert "Visit 1 " in client.get(frameworks.url("/flask/"), timeout=10).text
        assert "Visit 2 " in client.get(frameworks.url("/django/"), timeout=10).text


@pytest.mark.parametrize("framework", ["flask", "django"])
def test_framework_errors_reach_error_middleware(frameworks: Peer, framework: str) -> None:
    answer = requests.get(frameworks.url(f"/{framework}/boom"), timeout=10)
    assert answer.status_code == 500
    assert "Error reference" in answer.text
    assert "on purpose" not in answer.text  # no details without debug
    assert f"this {framework.title()} error is on purpose" in frameworks.wait_for_log("on purpose")


@pytest.mark.parametrize("framework", ["flask", "django"])
def test_framework_pages_are_gzipped(frameworks: Peer, framework: str) -> None:
    answer = requests.get(frameworks.url(f"/{framework}/"), timeout=10, stream=True)
    assert answer.headers["Content-Encoding"] == "gzip"
    assert b"under wsgikit" in gzip.decompress(answer.raw.read())


# --- Pyramid from a PasteDeploy ini --------------------------------------------------------------

PYRAMID_INI = ROOT / "examples" / "pyramid_app" / "app.ini"


@pytest.fixture(scope="module")
def pyramid() -> Stack:
    return validator(LintMiddleware(loadapp(f"config:{PYRAMID_INI}")))


def test_pyramid_page_through_the_stack(pyramid: Stack) -> None:
    first = get(pyramid, "/", headers={"Accept-Encoding": "gzip"})
    page = gzip.decompress(first.body)
    assert b"Hello from Pyramid" in page
    assert b'href="http://localhost/hello/world"' in page
    cookie = first.header("Set-Cookie")
    assert cookie is not None
    again = get(pyramid, "/", headers={"Cookie": cookie.split(";")[0]})
    assert b"Visit 2 " in again.body
    assert again.header("Content-Length") == str(len(again.body))


def test_pyramid_json_view(pyramid: Stack) -> None:
    assert json.loads(get(pyramid, "/hello/bo").body) == {"hello": "bo", "url": "/hello/bo"}


def test_pyramid_error_reaches_error_middleware(
    pyramid: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        answer = get(pyramid, "/boom")
    assert answer.status_code == 500
    assert "this Pyramid error is on purpose" in caplog.text


# --- the nginx configs, run by the real nginx with their ports templated ------------------------


def nginx_example(name: str, upstream: int, port: int) -> str:
    """examples/nginx/NAME as a user copies it, with the ports (and stock includes) of this run."""
    text = (ROOT / "examples" / "nginx" / name).read_text()
    for old, new in (
        ("127.0.0.1:8000", f"127.0.0.1:{upstream}"),
        ("127.0.0.1:9000", f"127.0.0.1:{upstream}"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("include fastcgi_params;", f"include {nginx_params('fastcgi_params')};"),
    ):
        text = text.replace(old, new)
    return text


@contextlib.contextmanager
def nginx_in_front(name: str, upstream: int) -> Iterator[str]:
    """nginx running examples/nginx/NAME in front of ``upstream``; the site's base URL."""
    port = free_port()
    directory = world_readable_dir("wsgikit-example-nginx-")
    with start_nginx(directory, "", http=nginx_example(name, upstream, port)):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.integration
def test_nginx_proxy_config_serves_the_frameworks(frameworks: Peer) -> None:
    with nginx_in_front("proxy.conf", frameworks.port) as site, requests.Session() as client:
        page = client.get(f"{site}/django/", timeout=10)
        assert page.status_code == 200
        assert 'href="/django/hello/world"' in page.text
        assert "Visit 2 " in client.get(f"{site}/flask/", timeout=10).text  # the cookie passed


@pytest.mark.integration
def test_nginx_fastcgi_config_serves_the_demo(tmp_path: Path) -> None:
    with (
        run_wsgikit(tmp_path, "fcgi", "examples.demo:app") as fcgi,
        nginx_in_front("fastcgi.conf", fcgi.port) as site,
    ):
        api = requests.get(f"{site}/api/hello", timeout=10).json()
        assert (api["script_name"], api["path_info"]) == ("/api", "/hello")
        assert "visit number 1" in requests.get(f"{site}/", timeout=10).text
