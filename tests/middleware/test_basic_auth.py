"""BasicAuth: htpasswd files written by Apache's own htpasswd (bcrypt, SHA, apr1), a checker
callable, the RFC 7617 challenge, open paths, and malformed headers answered 401, never 500."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration import missing
from wsgikit.middleware import BasicAuth
from wsgikit.middleware.basic_auth import _htpasswd
from wsgikit.testing import Result, call_app, check_middleware, serve_in_thread
from wsgikit.types import StartResponse, WSGIEnvironment

HTPASSWD = shutil.which("htpasswd")


def whoami(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ.get('REMOTE_USER')} {environ.get('AUTH_TYPE')}".encode()]


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def htpasswd(path: Path, flag: str, user: str, password: str) -> None:
    """Add ``user`` to ``path`` with Apache's htpasswd binary (``-B``, ``-s`` or ``-m``)."""
    if HTPASSWD is None:
        missing("htpasswd (apache2-utils) is not installed")
    create = [] if path.exists() else ["-c"]
    subprocess.run([HTPASSWD, "-b", *create, flag, str(path), user, password], check=True)


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    htpasswd(path, "-B", "bea", "bcrypt pässword")
    htpasswd(path, "-s", "sam", "sha password")
    htpasswd(path, "-m", "amy", "apr1 password")
    return path


def get(app: Any, **headers: str) -> Result:
    return call_app(app, headers=headers)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("user", "password"),
    [("bea", "bcrypt pässword"), ("sam", "sha password"), ("amy", "apr1 password")],
    ids=["bcrypt", "sha", "apr1"],
)
def test_apache_htpasswd_hashes_log_in(users: Path, user: str, password: str) -> None:
    result = get(BasicAuth(whoami, realm="r", htpasswd=users), **basic(user, password))
    assert (result.status_code, result.body) == (200, f"{user} Basic".encode())


@pytest.mark.integration
@pytest.mark.parametrize("user", ["bea", "sam", "amy", "nobody"])
def test_a_wrong_password_is_401(users: Path, user: str) -> None:
    assert (
        get(BasicAuth(whoami, realm="r", htpasswd=users), **basic(user, "wrong")).status_code == 401
    )


def test_the_challenge_follows_rfc_7617() -> None:
    result = get(BasicAuth(whoami, realm="Staging site", checker=lambda u, p, e: False))
    assert (result.status_code, result.header("WWW-Authenticate")) == (
        401,
        'Basic realm="Staging site", charset="UTF-8"',
    )


def test_a_head_401_has_no_body() -> None:
    app = BasicAuth(whoami, realm="r", checker=lambda u, p, e: False)
    assert call_app(app, method="HEAD").body == b""


def test_the_checker_gets_user_password_and_environ() -> None:
    seen: list[tuple[str, str, str]] = []

    def checker(user: str, password: str, environ: WSGIEnvironment) -> bool:
        seen.append((user, password, environ["PATH_INFO"]))
        return True

    get(BasicAuth(whoami, realm="r", checker=checker), **basic("zoë", "a:b"))
    assert seen == [("zoë", "a:b", "/")]  # the password may hold colons (RFC 7617 §2)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/health", 200),
        ("/health/db", 200),
        ("/static/app.css", 200),
        ("/healthz", 401),
        ("/", 401),
    ],
)
def test_open_paths_need_no_credentials(path: str, status: int) -> None:
    app = BasicAuth(
        whoami, realm="r", checker=lambda u, p, e: False, open_paths=["/health", "/static/"]
    )
    assert call_app(app, path=path).status_code == status


def test_is_open_leaves_requests_open() -> None:
    app = BasicAuth(
        whoami,
        realm="r",
        checker=lambda u, p, e: False,
        is_open=lambda e: e["REQUEST_METHOD"] == "OPTIONS",
    )
    assert call_app(app, method="OPTIONS").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + base64.b64encode(b"user:pass\x00word").decode(),
        "Basic " + base64.b64encode(b"x:" + b"y" * 9000).decode(),
        "Basic",
        "Bearer abc",
        "Basic YWxp Y2U6cHc=",
        "Basic YWxpY2U6cHc",
    ],
)
def test_malformed_authorization_is_401_and_logged(
    header: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = BasicAuth(whoami, realm="r", checker=lambda u, p, e: True)
    with caplog.at_level(logging.INFO, logger="wsgikit.basic_auth"):
        assert get(app, Authorization=header).status_code == 401
    assert "malformed Authorization header" in caplog.text


def test_a_wrong_password_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    app = BasicAuth(whoami, realm="r", checker=lambda u, p, e: False)
    with caplog.at_level(logging.WARNING, logger="wsgikit.basic_auth"):
        get(app, **basic("mallory", "guess"))
    assert "'mallory'" in caplog.text


def test_the_scheme_is_case_insensitive() -> None:
    token = base64.b64encode(b"ann:pw").decode()
    app = BasicAuth(whoami, realm="r", checker=lambda u, p, e: p == "pw")
    assert get(app, Authorization=f"bAsIc {token}").status_code == 200


@pytest.mark.integration
def test_the_file_is_read_again_when_it_changes(users: Path) -> None:
    app = BasicAuth(whoami, realm="r", htpasswd=users)
    assert get(app, **basic("new", "pw")).status_code == 401
    htpasswd(users, "-m", "new", "pw")
    os.utime(users, ns=(0, 10**18))  # a different mtime, even within one clock tick
    assert get(app, **basic("new", "pw")).status_code == 200


@pytest.mark.integration
def test_a_vanished_file_lets_nobody_in(users: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = BasicAuth(whoami, realm="r", htpasswd=users)
    users.unlink()
    with caplog.at_level(logging.ERROR, logger="wsgikit.basic_auth"):
        assert get(app, **basic("sam", "sha password")).status_code == 401
    assert "gone" in caplog.text


@pytest.mark.integration
def test_bcrypt_lines_without_the_package_are_a_clear_error(
    users: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "bcrypt", None)  # import bcrypt now raises ImportError
    with pytest.raises(ValueError, match=r"bea\): a bcrypt hash.*wsgikit\[auth\]"):
        BasicAuth(whoami, realm="r", htpasswd=users)


@pytest.mark.parametrize(
    "line", ["des:rqXexS6ZhobKA", "plain:secret", "$5$rounds", "nocolon"], ids=repr
)
def test_unsupported_lines_are_refused_at_construction(tmp_path: Path, line: str) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"# users\n\n{line}\n")
    with pytest.raises(ValueError, match="line 3"):
        BasicAuth(whoami, realm="r", htpasswd=path)


@pytest.mark.integration
def test_a_real_client_logs_in(users: Path) -> None:
    with serve_in_thread(BasicAuth(whoami, realm="r", htpasswd=users)) as port:
        url = f"http://127.0.0.1:{port}/"
        anonymous = requests.get(url, timeout=10)
        logged_in = requests.get(url, auth=("amy", "apr1 password"), timeout=10)
    assert (anonymous.status_code, logged_in.status_code, logged_in.text) == (
        401,
        200,
        "amy Basic",
    )


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({}, TypeError, "exactly one", id="neither"),
        pytest.param({"htpasswd": "/x", "checker": print}, TypeError, "exactly one", id="both"),
        pytest.param({"checker": 5}, TypeError, "checker", id="checker"),
        pytest.param({"htpasswd": "/nonexistent/file"}, ValueError, "htpasswd", id="no-file"),
        pytest.param({"checker": print, "realm": 'a"b'}, ValueError, "realm", id="realm"),
        pytest.param({"checker": print, "realm": ""}, ValueError, "realm", id="realm-empty"),
        pytest.param({"checker": print, "open_paths": "/x"}, TypeError, "open_paths", id="str"),
        pytest.param({"checker": print, "open_paths": ["x"]}, ValueError, "open_paths", id="rel"),
        pytest.param({"checker": print, "is_open": 1}, TypeError, "callable", id="is-open"),
    ],
)
def test_bad_options_are_refused(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        BasicAuth(whoami, **{"realm": "r", **options})


def test_passes_check_middleware_when_refusing() -> None:
    check_middleware(BasicAuth, realm="r", checker=lambda u, p, e: True)


def test_passes_check_middleware_when_open() -> None:
    check_middleware(BasicAuth, realm="r", checker=lambda u, p, e: False, is_open=lambda e: True)


@pytest.mark.integration
def test_an_unknown_user_costs_a_real_check(users: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user names found by timing: an unknown user's password is checked against a line of
    the file (bcrypt, as slow as a known user's), not a cheap stand-in."""
    checked: list[str] = []
    real = _htpasswd.verify

    def recording(password: str, hashed: str) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(_htpasswd, "verify", recording)
    get(BasicAuth(whoami, realm="r", htpasswd=users), **basic("nobody", "pw"))
    assert [h[:4] for h in checked] == ["$2y$"]
