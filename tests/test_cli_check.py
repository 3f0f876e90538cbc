"""``wsgikit check`` sends bodies of several sizes, with Content-Length and chunked, on each
--path, and finds apps that read them wrong."""

from __future__ import annotations

import hashlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import site  # noqa: F401 (the fixture apps builds on)
from wsgikit.cli import main

APPS = """
import hashlib

SEEN = []  # (method, path, CONTENT_LENGTH, sha256 of the body read), one a request


def answer(environ, start_response, text, status="200 OK"):
    start_response(status, [("Content-Type", "text/plain")])
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [text]


def records(environ, start_response):
    # Reads every body whole, as a framework does, and records what it got.
    stream, length = environ["wsgi.input"], environ.get("CONTENT_LENGTH")
    body = stream.read(int(length)) if length else stream.read()
    digest = hashlib.sha256(body).hexdigest()
    SEEN.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], length, digest))
    return answer(environ, start_response, b"ok")


def broken_under_api(environ, start_response):
    if environ["PATH_INFO"].startswith("/api/"):
        return answer(environ, start_response, b"oops", "500 Internal Server Error")
    return answer(environ, start_response, b"ok")


def mounted(environ, start_response):
    if environ["PATH_INFO"].startswith("/api/"):
        return answer(environ, start_response, b"ok")
    return answer(environ, start_response, b"not found", "404 Not Found")


class Capped:
    # A wsgi.input wrapper that gives at most 64 KiB a read: a short-reading server's bug.
    def __init__(self, stream):
        self.stream = stream

    def read(self, size=-1):
        return self.stream.read(65536 if size < 0 else min(size, 65536))


def truncates(environ, start_response):
    environ["wsgi.input"] = Capped(environ["wsgi.input"])
    length = environ.get("CONTENT_LENGTH")
    body = environ["wsgi.input"].read(int(length)) if length else environ["wsgi.input"].read()
    return answer(environ, start_response, b"got %d bytes" % len(body))


def needs_length(environ, start_response):
    body = b""
    if environ["REQUEST_METHOD"] == "POST":
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
    return answer(environ, start_response, b"got %d bytes" % len(body))


def length_only(environ, start_response):
    # Reads a body only when CONTENT_LENGTH says how long it is.
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    return answer(environ, start_response, b"got %d bytes" % len(body))
"""

SIZES = [0, 1_000, 100_000, 1_000_000]


@pytest.fixture
def apps(request: pytest.FixtureRequest) -> Iterator[Path]:
    """test_cli's folder (the cwd, sys.path and WSGIKIT_* restored after) with wk_check_apps.py."""
    folder: Path = request.getfixturevalue("site")
    (folder / "wk_check_apps.py").write_text(textwrap.dedent(APPS))
    yield folder
    sys.modules.pop("wk_check_apps", None)


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def expected_requests(path: str) -> list[tuple[str, str, str | None, str]]:
    """What the app must see on ``path``: GET, HEAD, then each body with a length and chunked."""
    empty = hashlib.sha256(b"").hexdigest()
    seen: list[tuple[str, str, str | None, str]] = [
        ("GET", path, None, empty),
        ("HEAD", path, None, empty),
    ]
    for size in SIZES:
        digest = hashlib.sha256((b"wsgikit_check=" + b"x" * size)[:size]).hexdigest()
        seen.append(("POST", path, str(size), digest))
        seen.append(("POST", path, None, digest))
    return seen


@pytest.mark.usefixtures("apps")
def test_check_sends_each_body_whole_on_each_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = check(capsys, "wk_check_apps:records", "--path", "/django/", "--path", "/api/x")
    seen: list[Any] = sys.modules["wk_check_apps"].SEEN
    assert seen[:-1] == expected_requests("/django/") + expected_requests("/api/x")
    assert seen[-1][:2] == ("GET", "/wsgikit-check/no-such-page")
    assert code == 0


@pytest.mark.usefixtures("apps")
def test_check_reports_each_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(
        capsys, "wk_check_apps:broken_under_api", "--path", "/", "--path", "/api/x"
    )
    assert "/: 10 requests, no problems" in out
    assert "/api/x: 10 requests, 10 problems" in out
    assert "POST /api/x 100 kB chunked -> 500 Internal Server Error (read none)" in out
    assert out[-1] == "wk_check_apps:broken_under_api: 10 problems found"
    assert code == 1


@pytest.mark.parametrize(
    ("app", "line", "problem"),
    [
        pytest.param(
            "truncates",
            "POST / 100 kB Content-Length -> 200 OK (read 65536 of 100000 bytes)",
            "the app read 65536 of the 100000 body bytes and answered 200 OK: a body cut short "
            "(a read taken for all of it?)",
            id="short-read-taken-for-the-body",
        ),
        pytest.param(
            "needs_length",
            "POST / 0 B chunked -> failed",
            "the app raised KeyError: 'CONTENT_LENGTH' (wk_check_apps.py, line",
            id="chunked-without-content-length",
        ),
    ],
)
@pytest.mark.usefixtures("apps")
def test_check_finds_an_app_that_gets_bodies_wrong(
    capsys: pytest.CaptureFixture[str], app: str, line: str, problem: str
) -> None:
    code, out, _ = check(capsys, f"wk_check_apps:{app}")
    assert out[out.index(line) + 1].startswith(f"  problem: {problem}")
    assert code == 1


@pytest.mark.usefixtures("apps")
def test_check_notes_an_app_that_ignores_chunked_bodies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = check(capsys, "wk_check_apps:length_only")
    notes = [line for line in out if line.startswith("  note: ")]
    assert notes == [
        "  note: the app reads a body sent with a Content-Length but not the same body chunked "
        "(no CONTENT_LENGTH; wsgi.input_terminated says the stream ends itself): chunked "
        "uploads reach it empty"
    ]
    assert code == 0


@pytest.mark.usefixtures("apps")
def test_check_notes_a_path_that_is_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(capsys, "wk_check_apps:mounted", "--path", "/api/x", "--path", "/ap1/x")
    notes = [line for line in out if line.startswith("  note: ")]
    assert notes == ["  note: /ap1/x is not found: is the app mounted there?"]
    assert code == 0


@pytest.mark.usefixtures("apps")
def test_check_path_must_start_with_a_slash(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = check(capsys, "wk_check_apps:records", "--path", "api/x")
    assert (code, out) == (2, [])
    assert err == (
        "wsgikit check: error: --path='api/x': expected a path starting with /, e.g. /api/items\n"
    )
