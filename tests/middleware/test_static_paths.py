"""StaticFiles never serves a file outside its directories, whatever the path; never a 500."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.middleware.static_helpers import fallthrough, get, write
from wsgikit.middleware import StaticFiles
from wsgikit.testing import call_app, make_environ

SECRET = b"SECRET outside the root\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """base/outside/secret.txt, and base/static with files, links in and out, a FIFO."""
    base = tmp_path_factory.mktemp("tree")
    write(base / "outside" / "secret.txt", SECRET)
    write(base / "static-evil" / "x.txt", SECRET)  # shares the root's name as a prefix
    root = base / "static"
    write(root / "a.txt", b"A\n")
    write(root / "sub" / "b.txt", b"B\n")
    write(root / ".hidden" / "c.txt", b"C\n")
    (root / "inside_link.txt").symlink_to(root / "a.txt")
    (root / "out_link.txt").symlink_to(base / "outside" / "secret.txt")
    (root / "out_dir").symlink_to(base / "outside")
    (root / "evil_dir").symlink_to(base / "static-evil")
    os.mkfifo(root / "pipe")
    return base


def app_for(tree: Path, **options: bool) -> StaticFiles:
    return StaticFiles(fallthrough, {"/static/": str(tree / "static")}, **options)


HOSTILE = [
    "/static/../outside/secret.txt",
    "/static/sub/../../outside/secret.txt",
    "/static/./a.txt",
    "/static/%2e%2e/outside/secret.txt",  # a server that did not decode: a literal name
    "/static/%2E%2E%2Foutside%2Fsecret.txt",
    "/static/..%2foutside/secret.txt",
    "/static/a.txt\x00.png",
    "/static/..\\outside\\secret.txt",
    "/static/C:/outside/secret.txt",
    "/static/C:\\outside\\secret.txt",
    "/static//etc/passwd",
    "/static/" + str(Path("/etc/passwd")).lstrip("/"),
    "/static/out_link.txt",
    "/static/out_dir/secret.txt",
    "/static/evil_dir/x.txt",
    "/static/.hidden/c.txt",
    "/static/pipe",
    "/static/sub",
    "/static/" + "a" * 5000,
    "/static/\xff\xfe.txt",
    "/static/sub/...0123456789ab",  # a hashed name whose stem is ".."
    "/static/..0123456789ab.txt",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_a_hostile_path_goes_to_the_app(tree: Path, path: str) -> None:
    result = get(app_for(tree), path)
    assert result.header("X-App") == "yes", result.status
    assert result.body == b"app:" + path.encode("latin-1")


def test_decoded_dot_dot_is_refused_before_the_disk(tree: Path) -> None:
    # The same request as the raw "%2e%2e" above, once the server decoded it (PEP 3333).
    environ = make_environ("/", PATH_INFO="/static/../outside/secret.txt")
    assert call_app(app_for(tree), environ).header("X-App") == "yes"


def test_a_refused_path_is_logged(tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", "wsgikit.static")
    get(app_for(tree), "/static/../outside/secret.txt")
    assert "refused '../outside/secret.txt' (a dot segment)" in caplog.text


def test_a_symlink_inside_the_root_is_served(tree: Path) -> None:
    assert get(app_for(tree), "/static/inside_link.txt").body == b"A\n"


def test_follow_symlinks_serves_links_out_of_the_root(tree: Path) -> None:
    assert get(app_for(tree, follow_symlinks=True), "/static/out_link.txt").body == SECRET


def test_a_hashed_name_cannot_reach_out_either(tree: Path) -> None:
    result = get(app_for(tree), "/static/out_link.0123456789ab.txt")
    assert result.header("X-App") == "yes"


PIECES = st.sampled_from(
    ["..", ".", "", "a.txt", "sub", "b.txt", "out_link.txt", "out_dir", "secret.txt", "outside",
     "%2e%2e", "%2f", "\\", "\x00", ":", "C:", ".hidden", "c.txt", "pipe", "evil_dir", "x.txt",
     "\xff", "é", "a.0123456789ab.txt", "inside_link.txt", "~", "*", "?"]
)  # fmt: skip
PATHS = st.lists(PIECES, min_size=1, max_size=6).map(lambda parts: "/static/" + "/".join(parts))
ANY_PATH = st.text(st.characters(max_codepoint=255), max_size=40).map(lambda t: "/static/" + t)
HEADERS = st.dictionaries(
    st.sampled_from(["Range", "If-None-Match", "If-Modified-Since", "If-Range", "If-Match"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40),
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=PATHS | ANY_PATH, headers=HEADERS, method=st.sampled_from(["GET", "HEAD", "POST"]))
def test_fuzzed_paths_and_headers_never_fail_or_leak(
    tree: Path, path: str, headers: dict[str, str], method: str
) -> None:
    result = call_app(
        app_for(tree), make_environ("/", method=method, headers=headers, PATH_INFO=path)
    )
    assert result.status_code in (200, 206, 304, 404, 405, 412, 416)
    assert SECRET not in result.body
    if result.header("X-App") is None and method == "GET" and result.status_code == 200:
        assert result.body in (b"A\n", b"B\n")
