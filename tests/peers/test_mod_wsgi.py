"""examples/mod_wsgi: the app.wsgi stack in-process, then served by Apache with Debian's mod_wsgi.

Apache includes examples/mod_wsgi/apache.conf verbatim (daemon mode, 2 processes x 4 threads)
with WSGIKIT_HOME and WSGIKIT_VENV defined, the venv made with /usr/bin/python3, the interpreter
Debian's libapache2-mod-wsgi-py3 embeds; the daemons run as www-data when the tests run as root.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import runpy
import shutil
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest
import requests

from tests.peers.helpers import ROOT, Peer, Starter, make_readable, read_stream
from wsgikit.lint import LintMiddleware
from wsgikit.testing import call_app, make_environ
from wsgikit.types import WSGIApplication

EXAMPLE = ROOT / "examples" / "mod_wsgi"


# -- the example in-process ----------------------------------------------------------------------


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WSGIApplication:
    """app.wsgi's ``application``, validated on both sides of the stack."""
    (tmp_path / "secret.key").write_text("0123456789abcdef" * 4)
    monkeypatch.setenv("WSGIKIT_SECRET_FILE", str(tmp_path / "secret.key"))
    app: WSGIApplication = runpy.run_path(str(EXAMPLE / "app.wsgi"))["application"]
    return validator(LintMiddleware(app))


def test_example_needs_its_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSGIKIT_SECRET_FILE", str(tmp_path / "absent.key"))
    with pytest.raises(RuntimeError, match="cannot read the session secret"):
        runpy.run_path(str(EXAMPLE / "app.wsgi"))


def test_example_home_counts_visits(example: WSGIApplication) -> None:
    first = call_app(example, path="/", SCRIPT_NAME="/app")
    cookie = (first.header("set-cookie") or "").split(";")[0]
    second = call_app(example, path="/", SCRIPT_NAME="/app", headers={"Cookie": cookie})
    assert b"Visits in this session: 1\n" in first.body
    assert b"Visits in this session: 2\n" in second.body


def test_example_api_sees_its_mount(example: WSGIApplication) -> None:
    result = call_app(example, path="/api/info", SCRIPT_NAME="/app")
    info = json.loads(result.body)
    assert (info["script_name"], info["path_info"]) == ("/app/api", "/info")


def test_example_echo_digests_the_body(example: WSGIApplication) -> None:
    result = call_app(example, path="/api/echo", method="POST", body=b"x" * 100_000)
    assert result.body.decode() == (
        '{"length": 100000, "sha256": "%s"}' % hashlib.sha256(b"x" * 100_000).hexdigest()
    )


def test_example_ticks_are_separate_chunks(example: WSGIApplication) -> None:
    chunks: list[bytes] = []
    environ = make_environ("/api/ticks", query="n=3&interval=0")
    result = example(environ, lambda status, headers, exc_info=None: chunks.append)
    try:
        chunks.extend(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    assert chunks == [b"tick 0\n", b"tick 1\n", b"tick 2\n"]


def test_example_bad_ticks_query_is_400(example: WSGIApplication) -> None:
    assert call_app(example, path="/api/ticks", query="n=many").status_code == 400


def test_example_failure_is_a_500_page(
    example: WSGIApplication, caplog: pytest.LogCaptureFixture
) -> None:
    result = call_app(example, make_environ("/api/fail"))
    assert result.status_code == 500
    assert b"on purpose" not in result.body
    assert "fails on purpose" in caplog.text


# -- the example under Apache mod_wsgi -----------------------------------------------------------


@pytest.fixture(scope="module")
def site(apache: Starter, www_venv: Path, peer_root: Path) -> Peer:
    home = peer_root / "mod-wsgi-site"
    home.mkdir(mode=0o755)
    shutil.copy(EXAMPLE / "app.wsgi", home / "app.wsgi")
    (home / "secret.key").write_text(os.urandom(32).hex())
    make_readable(home)
    config = f"""
Define WSGIKIT_HOME "{home}"
Define WSGIKIT_VENV "{www_venv}"
WSGISocketPrefix "{home}/wsgi"
Include "{EXAMPLE / "apache.conf"}"
"""
    return apache(config, modules=["wsgi"])


def get(site: Peer, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(site.url(path), timeout=20, **kwargs)


@pytest.mark.integration
def test_get(site: Peer) -> None:
    response = get(site, "/app/")
    assert response.status_code == 200
    assert response.text.startswith("Hello from wsgikit")
    assert response.headers["Content-Length"] == str(len(response.content))


@pytest.mark.integration
def test_session_is_kept_across_requests(site: Peer) -> None:
    with requests.Session() as client:
        pages = [client.get(site.url("/app/"), timeout=20).text for _ in range(4)]
    assert "Visits in this session: 4\n" in pages[-1]


@pytest.mark.integration
def test_script_name_and_path_info_under_the_prefix(site: Peer) -> None:
    info = get(site, "/app/api/info?x=1").json()
    assert (info["script_name"], info["path_info"], info["query_string"]) == (
        "/app/api",
        "/info",
        "x=1",
    )


@pytest.mark.integration
def test_served_by_the_daemon_group(site: Peer) -> None:
    info = get(site, "/app/api/info").json()
    assert info["process_group"] == "wsgikit"
    assert (info["multithread"], info["multiprocess"], info["run_once"]) == (True, True, False)


@pytest.mark.integration
def test_daemons_run_as_www_data(site: Peer) -> None:
    # Apache started as root serves as www-data; started by a user, as that user.
    user = "www-data" if os.geteuid() == 0 else getpass.getuser()
    assert get(site, "/app/api/info").json()["user"] == user


@pytest.mark.integration
def test_post_large_body(site: Peer) -> None:
    body = os.urandom(4 * 1024 * 1024)
    response = requests.post(site.url("/app/api/echo"), data=body, timeout=30)
    assert response.json() == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


@pytest.mark.integration
def test_streamed_response(site: Peer) -> None:
    # Streamed, the first tick arrives 0.6 s before the last; buffered, all at once.
    pieces = read_stream(site.url("/app/api/ticks?n=3&interval=0.3"))
    assert b"".join(chunk for _, chunk in pieces) == b"tick 0\ntick 1\ntick 2\n"
    assert pieces[-1][0] - pieces[0][0] >= 0.4


@pytest.mark.integration
def test_app_error_is_500_with_the_traceback_in_apaches_log(site: Peer) -> None:
    response = get(site, "/app/api/fail")
    assert response.status_code == 500
    assert "fails on purpose" not in response.text
    log = site.wait_for_log("RuntimeError: the /api/fail route fails on purpose")
    assert "RuntimeError: the /api/fail route fails on purpose" in log
    assert "Traceback (most recent call last)" in log
