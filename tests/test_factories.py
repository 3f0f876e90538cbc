"""The PasteDeploy entry points: a whole stack loads from an ini file and serves correctly."""

from __future__ import annotations

import gzip
import textwrap
from pathlib import Path

import pytest

from wsgikit.config import ConfigError
from wsgikit.loader import LoadError, load_app
from wsgikit.testing import call_app

APPS = """
import json

def site(environ, start_response):
    session = environ["wsgikit.session"]
    session["n"] = session.get("n", 0) + 1
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<p>" + b"site " * 200 + b"</p>"]

def api(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("boom")
    if environ["PATH_INFO"] == "/missing":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"plain 404"]
    body = json.dumps([environ["SCRIPT_NAME"], environ["PATH_INFO"]]).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

def errors(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"custom not found"]

def site_factory(global_conf):
    return site

def api_factory(global_conf):
    return api

def errors_factory(global_conf):
    return errors
"""

INI = """
[pipeline:main]
pipeline = errors docs gzip sessions length root

[filter:errors]
use = egg:wsgikit#errors
show_details_to = 127.0.0.1

[filter:docs]
use = egg:wsgikit#error_documents
404 = /errors/404

[filter:gzip]
use = egg:wsgikit#gzip
min_size = 100
level = 6

[filter:sessions]
use = egg:wsgikit#sessions
secret = 0123456789abcdef0123456789abcdef
store = sqlite:sessions.db

[filter:length]
use = egg:wsgikit#content_length
max_buffer = 64k

[composite:root]
use = egg:wsgikit#dispatch
/ = site
/api = api
/errors = errors

[app:site]
paste.app_factory = wk_factory_apps:site_factory

[app:api]
paste.app_factory = wk_factory_apps:api_factory

[app:errors]
paste.app_factory = wk_factory_apps:errors_factory
"""


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "wk_factory_apps.py").write_text(APPS)
    (tmp_path / "deploy.ini").write_text(INI)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path / "deploy.ini"


def test_the_stack_loads_and_serves(stack: Path) -> None:
    app = load_app(f"config:{stack}")
    result = call_app(app, path="/api/items", REMOTE_ADDR="10.0.0.9")
    assert result.status_code == 200
    assert result.body == b'["/api", "/items"]'
    page = call_app(app, path="/", headers={"Accept-Encoding": "gzip"})
    assert page.header("Content-Encoding") == "gzip"
    assert gzip.decompress(page.body).startswith(b"<p>site ")
    assert page.header("Set-Cookie") is not None
    assert (stack.parent / "sessions.db").exists()  # sqlite:PATH is relative to the ini file


def test_error_document_and_error_page(stack: Path) -> None:
    app = load_app(f"config:{stack}")
    missing = call_app(app, path="/api/missing")
    assert missing.status_code == 404
    assert missing.body == b"custom not found"
    boom = call_app(app, path="/api/boom", headers={"Accept": "text/plain"})
    assert boom.status_code == 500
    assert b"boom" in boom.body  # show_details_to = 127.0.0.1 and make_environ's REMOTE_ADDR


def test_unknown_option_is_a_clear_error(stack: Path) -> None:
    stack.write_text(INI.replace("level = 6", "levle = 6"))
    with pytest.raises((ConfigError, LoadError), match="gzip: unknown option 'levle'"):
        load_app(f"config:{stack}")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param("level = 6", "level = 11", "gzip: option level='11'", id="gzip-level"),
        pytest.param("max_buffer = 64k", "max_buffer = lots", "content_length", id="size"),
        pytest.param(
            "secret = 0123456789abcdef0123456789abcdef",
            "secret =",
            "secret is required",
            id="no-secret",
        ),
        pytest.param("404 = /errors/404", "4o4 = /errors/404", "error_documents", id="status"),
        pytest.param("/api = api", "/api = api\nredirect_slash = maybe", "dispatch", id="bool"),
    ],
)
def test_bad_values_name_the_filter(stack: Path, old: str, new: str, message: str) -> None:
    stack.write_text(INI.replace(old, new))
    with pytest.raises((ConfigError, LoadError), match=message):
        load_app(f"config:{stack}")


def test_ini_text_is_valid() -> None:
    assert textwrap.dedent(INI).count("egg:wsgikit#") == 6
