"""The optional compiled build (setup.py, WSGIKIT_COMPILE): what it installs, and what runs.

Wheels are built here for real (pip wheel, in its isolated build environment), then imported
from a directory put first on PYTHONPATH: the compiled wheel runs its C extensions and serves a
request; a machine that cannot compile, and the default install, get the pure package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import wsgikit
from wsgikit._compiled import MODULES, compiled_modules, describe

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(wsgikit.__file__).parent

# Run inside the unpacked wheel: which modules are compiled, and one request to the HTTP server.
PROBE = """
import http.client, threading
from wsgikit._compiled import compiled_modules, describe
from wsgikit.servers.http import Server

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode()]

server = Server(app, ["127.0.0.1:0"], threads=0)
threading.Thread(target=server.run, daemon=True).start()
conn = http.client.HTTPConnection("127.0.0.1", server.addresses[0][1], timeout=10)
conn.request("GET", "/probe")
print(conn.getresponse().read().decode())
server.stop()
print(len(compiled_modules()))
print(describe())
"""


def built_in_tree() -> list[str]:
    """MODULES with an extension module next to their .py in this checkout."""
    return [name for name in MODULES if list(PACKAGE.parent.glob(name.replace(".", "/") + ".*.so"))]


def build_wheel(tmp: Path, **env: str) -> tuple[Path, str]:
    """A wheel of a clean copy of the project (no build/ or .so files of an earlier build)."""
    src, out = tmp / "src", tmp / "dist"
    shutil.copytree(
        ROOT / "wsgikit", src / "wsgikit", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    run_env = {**os.environ, **env}
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", out, src],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    (wheel,) = out.glob("wsgikit-*.whl")
    return wheel, proc.stdout + proc.stderr


def probe(wheel: Path, tmp: Path) -> list[str]:
    """Run PROBE with the wheel's wsgikit first on the path (ahead of the editable checkout)."""
    site = tmp / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.splitlines()


def extensions(wheel: Path) -> list[str]:
    return [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".so")]


def test_the_compiled_modules_are_the_ones_imported() -> None:
    assert sorted(compiled_modules()) == sorted(built_in_tree())


def test_describe_names_the_build() -> None:
    n = len(built_in_tree())
    expected = f"compiled with mypyc ({n} of {len(MODULES)} modules)" if n else "pure Python"
    assert describe() == expected


def test_a_compiled_wheel_runs_its_extensions(tmp_path: Path) -> None:
    wheel, _ = build_wheel(tmp_path, WSGIKIT_COMPILE="require")
    assert len(extensions(wheel)) == len(MODULES) + 1  # and the group's shared library
    assert probe(wheel, tmp_path) == [
        "/probe",
        str(len(MODULES)),
        f"compiled with mypyc ({len(MODULES)} of {len(MODULES)} modules)",
    ]


def test_without_a_c_compiler_the_install_is_pure(tmp_path: Path) -> None:
    wheel, log = build_wheel(tmp_path, WSGIKIT_COMPILE="1", CC="false")
    assert "the compiled build failed" in log
    assert extensions(wheel) == []
    assert probe(wheel, tmp_path) == ["/probe", "0", "pure Python"]


def test_without_a_c_compiler_require_fails(tmp_path: Path) -> None:
    with pytest.raises(subprocess.CalledProcessError):
        build_wheel(tmp_path, WSGIKIT_COMPILE="require", CC="false")


def test_the_default_install_is_pure(tmp_path: Path) -> None:
    wheel, _ = build_wheel(tmp_path, WSGIKIT_COMPILE="")
    assert extensions(wheel) == []
    assert probe(wheel, tmp_path) == ["/probe", "0", "pure Python"]
