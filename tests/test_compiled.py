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
import sysconfig
import zipfile
from pathlib import Path

import pytest

import wsgikit
from tests.integration import missing
from wsgikit._compiled import MODULES, compiled_modules, describe

ROOT = Path(__file__).resolve().parent.parent
EXPECT = "WSGIKIT_TEST_EXPECT_BUILD"  # set by the compiled rerun for the pytest it runs
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
    if os.environ.get(EXPECT) == "compiled":  # the rerun below: its pytest imports the wheel
        assert sorted(compiled_modules()) == sorted(MODULES)


def test_describe_names_the_build() -> None:
    n = len(built_in_tree())
    expected = f"compiled with mypyc ({n} of {len(MODULES)} modules)" if n else "pure Python"
    assert describe() == expected


@pytest.fixture(scope="module")
def compiled_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The compiled wheel (built once for the module) and a directory to unpack it in."""
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").exists() or not shutil.which(os.environ.get("CC", "cc")):
        missing(f"the compiled build needs a C compiler and {include}/Python.h (gcc, python3-dev)")
    tmp = tmp_path_factory.mktemp("compiled")
    wheel, _ = build_wheel(tmp, WSGIKIT_COMPILE="require")
    return wheel, tmp


def test_a_compiled_wheel_runs_its_extensions(compiled_wheel: tuple[Path, Path]) -> None:
    wheel, tmp_path = compiled_wheel
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


# The tests of the compiled modules' behaviour, run again on the compiled build: the parser, the
# engine, the HTTP server (the whole suite passes compiled too; these cover what is compiled).
COMPILED_RERUN = (
    "tests/test_http11.py",
    "tests/test_http11_states.py",
    "tests/test_gateway.py",
    "tests/test_gateway_pause.py",
    "tests/test_environ.py",
    "tests/servers/test_http.py",
    "tests/servers/test_http_bodies.py",
    "tests/servers/test_http_conformance.py",
    "tests/servers/test_http_slow_clients.py",
    "tests/servers/test_http_turns.py",
    "tests/servers/test_proxy_protocol.py",
    "tests/servers/test_forwarded.py",
)


def test_the_request_path_tests_pass_on_the_compiled_build(
    compiled_wheel: tuple[Path, Path],
) -> None:
    wheel, tmp_path = compiled_wheel
    site = tmp_path / "site"
    if not site.exists():
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(site)
    # -P and --import-mode=append: neither the checkout nor the tests' root go ahead of the
    # unpacked wheel on sys.path; the checkout comes after it, for the tests' own helpers.
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", EXPECT: "compiled"}
    check = [
        sys.executable,
        "-P",
        "-c",
        "from wsgikit._compiled import describe; print(describe())",
    ]
    which = subprocess.run(check, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert which.stdout.strip() == f"compiled with mypyc ({len(MODULES)} of {len(MODULES)} modules)"
    present = [name for name in COMPILED_RERUN if (ROOT / name).exists()]
    assert present == list(COMPILED_RERUN)  # a renamed file must not drop out silently
    command = [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["--import-mode=append", *present]
    command.append("tests/test_compiled.py::test_the_compiled_modules_are_the_ones_imported")
    run = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1]
