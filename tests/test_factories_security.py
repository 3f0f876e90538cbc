"""The basic_auth, signed_cookies and csrf entry points load from an ini file and work together."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from wsgikit.config import ConfigError
from wsgikit.loader import LoadError, load_app
from wsgikit.testing import call_app

APPS = """
def app(environ, start_response):
    cookies = environ["wsgikit.signed_cookies"]
    seen = cookies.get("seen")
    cookies.set("seen", environ["REMOTE_USER"])
    body = f"{environ['REMOTE_USER']} {seen} {environ['wsgikit.csrf_token']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]

def app_factory(global_conf):
    return app
"""

INI = """
[pipeline:main]
pipeline = auth cookies csrf root

[filter:auth]
use = egg:wsgikit#basic_auth
realm = Staging
htpasswd = users.htpasswd
open_paths = /health

[filter:cookies]
use = egg:wsgikit#signed_cookies
secret = 0123456789abcdef0123456789abcdef, an-older-secret-0123456789
max_age = 3600

[filter:csrf]
use = egg:wsgikit#csrf
secret = fedcba9876543210fedcba9876543210
use_session = false
trusted_origins = https://*.example.com
exempt_paths = /hooks

[app:root]
paste.app_factory = sec_apps:app_factory
"""

LOGIN = {"Authorization": "Basic " + base64.b64encode(b"ann:pw").decode()}


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "sec_apps.py").write_text(APPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    sha = base64.b64encode(hashlib.sha1(b"pw").digest()).decode()
    (tmp_path / "users.htpasswd").write_text(f"ann:{{SHA}}{sha}\n")
    (tmp_path / "deploy.ini").write_text(INI)
    return tmp_path / "deploy.ini"


def test_the_stack_asks_for_a_password(stack: Path) -> None:
    result = call_app(load_app(f"config:{stack}"))
    assert (result.status_code, result.header("WWW-Authenticate")) == (
        401,
        'Basic realm="Staging", charset="UTF-8"',
    )


def test_the_stack_serves_a_user_with_cookies_and_a_token(stack: Path) -> None:
    app = load_app(f"config:{stack}")
    first = call_app(app, headers=LOGIN)
    cookies = "; ".join(value.split(";")[0] for value in first.header_list("Set-Cookie"))
    user, seen, token = call_app(app, headers={**LOGIN, "Cookie": cookies}).body.split()
    body = b"csrf_token=" + token
    headers = {**LOGIN, "Cookie": cookies, "Content-Type": "application/x-www-form-urlencoded"}
    posted = call_app(app, method="POST", body=body, headers=headers)
    forged = call_app(app, method="POST", body=b"a=1", headers=headers)
    assert (user, seen, posted.status_code, forged.status_code) == (b"ann", b"ann", 200, 403)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param("realm = Staging\n", "", "basic_auth: option realm is required", id="realm"),
        pytest.param("users.htpasswd", "nope.htpasswd", "basic_auth: .*nope", id="no-file"),
        pytest.param(
            "max_age = 3600", "max_age = soon", "signed_cookies: option max_age", id="age"
        ),
        pytest.param(
            "secret = fedcba", "secrt = fedcba", "csrf: unknown option 'secrt'", id="typo"
        ),
        pytest.param(
            "https://*.example.com", "example.com", "csrf: .*trusted_origins", id="origin"
        ),
        pytest.param("use_session = false", "use_session = perhaps", "csrf: option", id="bool"),
    ],
)
def test_bad_values_name_the_filter(stack: Path, old: str, new: str, message: str) -> None:
    stack.write_text(INI.replace(old, new, 1))
    with pytest.raises((ConfigError, LoadError), match=message):
        load_app(f"config:{stack}")
