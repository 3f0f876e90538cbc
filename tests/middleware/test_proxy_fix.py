"""ProxyFix: the trusted-proxy core as a middleware, under any server (and PasteDeploy)."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from wsgikit.config import ConfigError
from wsgikit.loader import LoadError, load_app
from wsgikit.middleware import ProxyFix, SessionMiddleware
from wsgikit.middleware.sessions import Session
from wsgikit.testing import call_app, check_middleware
from wsgikit.types import StartResponse, WSGIEnvironment

SECRET = "0123456789abcdef0123456789abcdef"
SEEN = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SERVER_PORT", "SCRIPT_NAME")


def echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Answer the environ values ProxyFix may change, as JSON."""
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({key: environ.get(key) for key in SEEN}).encode()]


def seen(app: Any, peer: str, headers: dict[str, str]) -> dict[str, Any]:
    result = call_app(app, headers=headers, REMOTE_ADDR=peer)
    assert result.status_code == 200
    found: dict[str, Any] = json.loads(result.body)
    return found


def test_passes_check_middleware() -> None:
    check_middleware(ProxyFix, trusted="*", x_host=1, x_prefix=1)


def test_a_trusted_peer_is_believed() -> None:
    headers = {"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https"}
    env = seen(ProxyFix(echo), "127.0.0.1", headers)
    assert (env["REMOTE_ADDR"], env["wsgi.url_scheme"]) == ("198.51.100.1", "https")


def test_spoofing_from_an_untrusted_peer_changes_nothing() -> None:
    headers = {"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https"}
    env = seen(ProxyFix(echo, x_host=1), "203.0.113.5", headers | {"X-Forwarded-Host": "e.x"})
    assert env == seen(echo, "203.0.113.5", {})


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"trusted": ["10.0.0.0/40"]}, ValueError),
        ({"x_for": "1"}, ValueError),
        ({"forwarded": "yes"}, TypeError),
        ({"trusted": [1]}, TypeError),
    ],
)
def test_bad_options_name_the_middleware(options: dict[str, Any], error: type) -> None:
    with pytest.raises(error, match="ProxyFix"):
        ProxyFix(echo, **options)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ProxyFix(echo, "*")  # type: ignore[misc]


def cookie_is_secure(trusted: str, proto: str) -> bool:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        session: Session = environ["wsgikit.session"]
        session["n"] = 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    stack = ProxyFix(SessionMiddleware(app, secret=SECRET), trusted=trusted)
    result = call_app(stack, headers={"X-Forwarded-Proto": proto}, REMOTE_ADDR="10.0.0.1")
    cookie = result.header("Set-Cookie")
    assert cookie is not None
    return "secure" in [attribute.strip().lower() for attribute in cookie.split(";")]


def test_session_cookie_is_secure_behind_a_trusted_https_proxy() -> None:
    assert cookie_is_secure("10.0.0.0/8", "https")


def test_session_cookie_is_not_secure_when_the_peer_is_untrusted() -> None:
    assert not cookie_is_secure("192.168.0.0/16", "https")


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def wsgiref_port() -> Iterator[int]:
    """ProxyFix under another server (wsgiref), which applies no proxy header itself."""
    server = make_server("127.0.0.1", 0, ProxyFix(echo, x_prefix=1), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_under_wsgiref_with_a_real_client(wsgiref_port: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{wsgiref_port}/",
        headers={"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Prefix": "/shop"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        env = json.loads(response.read())
    assert (env["REMOTE_ADDR"], env["SCRIPT_NAME"]) == ("198.51.100.7", "/shop")


INI = """
[pipeline:main]
pipeline = proxy echo

[filter:proxy]
use = egg:wsgikit#proxy_fix
trusted = 10.0.0.0/8, 127.0.0.1
x_for = 2
x_host = 1

[app:echo]
paste.app_factory = wk_proxy_echo:factory
"""


@pytest.fixture
def ini(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    module = "from tests.middleware.test_proxy_fix import echo\n\ndef factory(g, **o):\n"
    (tmp_path / "wk_proxy_echo.py").write_text(module + "    return echo\n")
    (tmp_path / "deploy.ini").write_text(INI)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path / "deploy.ini"


def test_the_paste_entry_point_loads_with_its_options(ini: Path) -> None:
    app = load_app(f"config:{ini}")
    headers = {"X-Forwarded-For": "198.51.100.1, 10.0.0.2", "X-Forwarded-Host": "shop.example"}
    env = seen(app, "10.0.0.1", headers)
    assert (env["REMOTE_ADDR"], env["HTTP_HOST"]) == ("198.51.100.1", "shop.example")


def test_the_paste_entry_point_refuses_a_bad_option(ini: Path) -> None:
    ini.write_text(INI.replace("x_for = 2", "x_for = many"))
    with pytest.raises((ConfigError, LoadError), match="proxy_fix"):
        load_app(f"config:{ini}")
