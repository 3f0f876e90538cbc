"""StaticFiles: hashed URLs, lazy startup, how bodies are sent and closed, the ini filter."""

from __future__ import annotations

import builtins
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.middleware.static_helpers import CSS, OLD, fallthrough, get, site, static, write
from wsgikit.loader import LoadError, load_app
from wsgikit.middleware import StaticFiles
from wsgikit.testing import call_app, make_environ


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return site(tmp_path / "static")


# --- static_url ---------------------------------------------------------------------------------


def test_static_url_puts_the_content_hash_in_the_name(root: Path) -> None:
    url = static(root).static_url("/static/css/site.css")
    assert re.fullmatch(r"/static/css/site\.[0-9a-f]{12}\.css", url)


def test_the_hashed_url_serves_the_file_as_immutable(root: Path) -> None:
    app = static(root)
    result = get(app, app.static_url("/static/css/site.css"))
    assert result.body == CSS
    assert result.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert result.header("Content-Type") == "text/css; charset=utf-8"


def test_an_old_hash_gets_the_current_file_without_immutable(root: Path) -> None:
    result = get(static(root), "/static/css/site.000000000000.css")
    assert result.body == CSS
    assert result.header("Cache-Control") == "public, max-age=60"


def test_the_hash_changes_with_the_content(root: Path) -> None:
    app = static(root, recheck=0)
    before = app.static_url("/static/app.js")
    write(root / "app.js", b"new();\n", mtime=OLD + 5)
    after = app.static_url("/static/app.js")
    assert before != after
    assert get(app, after).body == b"new();\n"
    assert get(app, before).header("Cache-Control") == "public, max-age=60"


def test_a_name_without_extension_gets_the_hash_at_the_end(root: Path) -> None:
    write(root / "LICENSE", b"MIT\n")
    app = static(root)
    url = app.static_url("/static/LICENSE")
    assert re.fullmatch(r"/static/LICENSE\.[0-9a-f]{12}", url)
    assert get(app, url).body == b"MIT\n"


def test_static_url_under_a_script_name_and_percent_encoded(root: Path) -> None:
    write(root / "café.css", b"a{}")
    app = static(root)
    url = app.static_url("/static/café.css", make_environ(SCRIPT_NAME="/shop"))
    assert re.fullmatch(r"/shop/static/caf%C3%A9\.[0-9a-f]{12}\.css", url)
    path = url.removeprefix("/shop").replace("%C3%A9", "é".encode().decode("latin-1"))
    assert get(app, path).body == b"a{}"


def test_static_url_of_a_missing_file_is_the_path_and_a_log_line(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert static(root).static_url("/static/nope.css") == "/static/nope.css"
    assert "nope.css" in caplog.text


def test_the_hash_is_read_once_per_version_of_the_file(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = static(root)
    opened = count_calls(monkeypatch, builtins, "open")
    urls = {app.static_url("/static/css/site.css") for _ in range(20)}
    assert len(urls) == 1
    assert opened == [1]


# --- startup cost (whitenoise#263) --------------------------------------------------------------


def count_calls(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Count calls of ``module.name`` from now on; the one-element list holds the count."""
    calls = [0]
    real = getattr(module, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def test_construction_does_no_per_file_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(4000):
        (tmp_path / f"d{n % 40}").mkdir(exist_ok=True)
        (tmp_path / f"d{n % 40}" / f"f{n}.css").write_bytes(b"x")
    counts = {
        name: count_calls(monkeypatch, os, name)
        for name in ("stat", "lstat", "scandir", "listdir", "walk", "open")
    }
    opened = count_calls(monkeypatch, builtins, "open")
    app = StaticFiles(fallthrough, {"/static/": str(tmp_path)})
    work = {name: calls[0] for name, calls in counts.items()} | {"open()": opened[0]}
    assert sum(work.values()) <= 10, work  # the root's realpath and isdir, not 4,000 files
    assert get(app, "/static/d7/f3207.css").body == b"x"


# --- bodies: file_wrapper, memory, close --------------------------------------------------------


class Wrapper:
    """A wsgi.file_wrapper that records what it was given and whether it was closed."""

    made: list[Wrapper] = []

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike, self.closed = filelike, False
        Wrapper.made.append(self)

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.filelike.read(65536), b"")

    def close(self) -> None:
        self.closed = True
        self.filelike.close()


@pytest.fixture
def big(root: Path) -> bytes:
    data = os.urandom(300_000)
    write(root / "big.bin", data)
    Wrapper.made = []
    return data


def test_a_large_file_goes_through_wsgi_file_wrapper(root: Path, big: bytes) -> None:
    result = call_app(
        static(root), make_environ("/static/big.bin", **{"wsgi.file_wrapper": Wrapper})
    )
    assert result.body == big
    assert len(Wrapper.made) == 1
    assert Wrapper.made[0].filelike.name == str(root / "big.bin")
    assert Wrapper.made[0].closed


def test_one_range_goes_through_wsgi_file_wrapper_as_a_slice(root: Path, big: bytes) -> None:
    environ = make_environ(
        "/static/big.bin", headers={"Range": "bytes=1000-200999"}, **{"wsgi.file_wrapper": Wrapper}
    )
    result = call_app(static(root), environ)
    assert result.body == big[1000:201000]
    assert type(Wrapper.made[0].filelike).__name__ == "Slice"  # read() stops at the range's end
    assert Wrapper.made[0].closed


def test_without_file_wrapper_the_file_is_read_in_blocks_and_closed(root: Path, big: bytes) -> None:
    environ = make_environ("/static/big.bin")
    del environ["wsgi.file_wrapper"]
    body = static(root)(environ, lambda status, headers, exc_info=None: lambda data: None)
    chunks = list(body)
    assert b"".join(chunks) == big
    assert max(map(len, chunks)) <= 65536
    body.close()  # type: ignore[attr-defined]
    assert body._slice._file.closed  # type: ignore[attr-defined]


def test_an_abandoned_body_closes_the_file(root: Path, big: bytes) -> None:
    environ = make_environ("/static/big.bin")
    del environ["wsgi.file_wrapper"]
    body = static(root)(environ, lambda status, headers, exc_info=None: lambda data: None)
    next(iter(body))  # the client went away after the first block
    body.close()  # type: ignore[attr-defined]
    assert body._slice._file.closed  # type: ignore[attr-defined]


def test_head_of_a_large_file_opens_nothing(
    root: Path, big: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = static(root)
    get(app, "/static/big.bin", "HEAD")
    opened = count_calls(monkeypatch, builtins, "open")
    assert get(app, "/static/big.bin", "HEAD").header("Content-Length") == str(len(big))
    assert opened == [0]


def test_a_small_file_is_read_from_disk_once(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = static(root, recheck=60)
    opened = count_calls(monkeypatch, builtins, "open")
    bodies = {get(app, "/static/css/site.css").body for _ in range(5)}
    assert bodies == {CSS}
    assert opened == [1]


def test_memory_cache_zero_reads_each_time(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = static(root, recheck=60, memory_cache=0)
    opened = count_calls(monkeypatch, builtins, "open")
    for _ in range(3):
        assert get(app, "/static/css/site.css").body == CSS
    assert opened == [3]


# --- the PasteDeploy filter ---------------------------------------------------------------------

INI = """
[pipeline:main]
pipeline = static app

[filter:static]
use = egg:wsgikit#static
/static/ = files other
max_age = 300
index = index.html

[app:app]
paste.app_factory = wk_static_app:factory
"""


def test_the_filter_loads_from_an_ini_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "files" / "a.txt", b"from files")
    write(tmp_path / "other" / "b.txt", b"from other")
    (tmp_path / "wk_static_app.py").write_text(
        "from tests.middleware.static_helpers import fallthrough\n"
        "def factory(global_conf):\n    return fallthrough\n"
    )
    (tmp_path / "site.ini").write_text(INI)
    monkeypatch.syspath_prepend(str(tmp_path))
    app = load_app(f"config:{tmp_path / 'site.ini'}")
    assert get(app, "/static/a.txt").header("Cache-Control") == "public, max-age=300"
    assert get(app, "/static/b.txt").body == b"from other"
    assert get(app, "/static/c.txt").header("X-App") == "yes"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("colour = red", "unknown option 'colour'"),
        ("max_age = soon", "max_age"),
        ("/more/ = missing", "no directory"),
    ],
)
def test_bad_filter_options_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, message: str
) -> None:
    write(tmp_path / "files" / "a.txt", b"x")
    write(tmp_path / "other" / "a.txt", b"x")
    (tmp_path / "wk_static_app2.py").write_text("def factory(global_conf):\n    return print\n")
    ini = INI.replace("wk_static_app", "wk_static_app2").replace("index = index.html", line)
    (tmp_path / "bad.ini").write_text(ini)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(LoadError, match=message):
        load_app(f"config:{tmp_path / 'bad.ini'}")
