"""``--reload``: a real manager restarts its worker when the app's source (or a --reload-extra
file) changes, with inotify and with polling; new code that does not load changes nothing."""

from __future__ import annotations

import http.client
import importlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import wsgikit
from tests.servers.manager_helpers import Managed, until
from wsgikit.servers._reload import ProjectFiles, changed_since, excluded_roots

# The versions differ in length: a .pyc is checked against its source's mtime (whole seconds)
# and size, so an edit in the second of the import must change the size to be seen.
APP = """
from rl_part import VERSION

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [VERSION.encode()]
"""
EXTRA = """
import os
TEXT = open(os.path.join(os.path.dirname(__file__), "greeting.txt")).read()

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [TEXT.encode()]
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Any]:
    started: list[Managed] = []

    def start(*args: str, poll: bool = False, spec: str = "rl_app:app") -> Managed:
        env = {"WSGIKIT_RELOAD_POLL": "1" if poll else "0"}
        srv = Managed(tmp_path, spec, "--reload", *args, env=env)
        started.append(srv)
        return srv

    (tmp_path / "rl_app.py").write_text(APP)
    (tmp_path / "rl_part.py").write_text('VERSION = "v1"\n')
    yield start
    for srv in started:
        srv.close()


def answer(srv: Managed) -> str:
    try:
        return srv.get("/", timeout=2)
    except (OSError, AssertionError, http.client.HTTPException):
        return ""


@pytest.mark.parametrize("poll", [False, True], ids=["inotify", "polling"])
def test_an_edited_module_is_served_within_seconds(site: Any, tmp_path: Path, poll: bool) -> None:
    srv = site(poll=poll)
    srv.wait_workers(1)
    assert answer(srv) == "v1"
    (tmp_path / "rl_part.py").write_text('VERSION = "v22"\n')  # imported by the app module
    until(lambda: answer(srv) == "v22", 10)


@pytest.mark.parametrize("poll", [False, True], ids=["inotify", "polling"])
def test_a_syntax_error_keeps_the_old_code_until_it_is_fixed(
    site: Any, tmp_path: Path, poll: bool
) -> None:
    srv = site(poll=poll)
    (worker,) = srv.wait_workers(1)
    (tmp_path / "rl_part.py").write_text('VERSION = "v2\n')  # an unterminated string
    until(lambda: "reload undone" in srv._err.read_text(), 10)
    assert answer(srv) == "v1"
    assert srv.children() == {worker}
    assert srv._err.read_text().count("could not start") == 1, srv._err.read_text()
    (tmp_path / "rl_part.py").write_text('VERSION = "v333"\n')
    until(lambda: answer(srv) == "v333", 10)


def test_a_reload_extra_file_is_watched(site: Any, tmp_path: Path) -> None:
    (tmp_path / "rl_extra.py").write_text(EXTRA)
    (tmp_path / "greeting.txt").write_text("hello")
    srv = site("--reload-extra", "*.txt", spec="rl_extra:app")
    srv.wait_workers(1)
    assert answer(srv) == "hello"
    (tmp_path / "greeting.txt").write_text("goodbye")
    until(lambda: answer(srv) == "goodbye", 10)


def test_a_file_the_app_did_not_load_changes_nothing(site: Any, tmp_path: Path) -> None:
    srv = site()
    (worker,) = srv.wait_workers(1)
    (tmp_path / "notes.txt").write_text("not code")
    (tmp_path / "unused.py").write_text("X = 1\n")  # never imported
    time.sleep(2.5)  # two looks of the polling watcher, and inotify events long delivered
    assert srv.children() == {worker}
    assert "changed" not in srv._err.read_text()


def test_reload_with_preload_is_refused(site: Any) -> None:
    srv = site("--preload")
    assert srv.finish() == 2
    assert "--reload cannot be used with --preload" in srv.stderr


def test_a_file_saved_while_the_worker_loaded_counts_as_changed(tmp_path: Path) -> None:
    saved = tmp_path / "saved.py"
    saved.write_text("X = 2\n")
    mtime = saved.stat().st_mtime
    assert changed_since({str(saved)}, mtime - 1.0) == str(saved)  # saved after loading began
    assert changed_since({str(saved)}, mtime) is None  # saved before: the code has it
    os.utime(saved, (mtime + 3600, mtime + 3600))
    assert changed_since({str(saved)}, mtime - 1.0) is None  # a future mtime is clock skew


def test_the_watched_files_are_the_projects_not_pythons_or_wsgikits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rl_mine.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("rl_mine")
    (tmp_path / "page.html").write_text("<p>")
    files = ProjectFiles(["*.html"], excluded_roots())
    monkeypatch.chdir(tmp_path)
    watched = files()
    assert {str(tmp_path / "rl_mine.py"), str(tmp_path / "page.html")} <= watched
    assert os.path.realpath(json.__file__) not in watched
    assert os.path.realpath(wsgikit.__file__) not in watched


def test_each_worker_sees_the_change_and_the_manager_reloads_once(
    site: Any, tmp_path: Path
) -> None:
    srv = site("--workers", "2")
    old = srv.wait_workers(2)
    (tmp_path / "rl_part.py").write_text('VERSION = "v22"\n')
    until(lambda: len(srv.children()) == 2 and not srv.children() & old, 10)
    until(lambda: answer(srv) == "v22", 10)
    time.sleep(1.5)  # a second reload, if any, would have begun
    log = srv._err.read_text()
    assert log.count("--reload: ") == 2 and log.count("reloading (--reload)") == 1, log
