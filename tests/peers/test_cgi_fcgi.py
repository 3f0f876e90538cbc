"""wsgikit's FastCGI server driven by libfcgi's ``cgi-fcgi`` client (Debian: libfcgi-bin).

``cgi-fcgi -bind -connect ADDR`` runs as a CGI program: its environment becomes the params, its
stdin the body, the response goes to its stdout. ``cgi-fcgi -start -connect SOCK APP`` starts
APP with the listening socket on fd 0 (FCGI_LISTENSOCK_FILENO), as mod_fcgid and spawn-fcgi do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.gateway_checks import RELEASE, port_of, root_and_mount, running_all
from tests.peers.helpers import ROOT, find_program
from wsgikit.servers.fastcgi import FastCGIServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cgi_fcgi() -> str:
    return find_program("cgi-fcgi")


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, str]]:
    with running_all(root_and_mount(FastCGIServer)) as servers:
        yield {name: f"127.0.0.1:{port_of(server)}" for name, server in servers.items()}


def cgi_env(uri: str, method: str = "GET", **extra: str) -> dict[str, str]:
    """What a web server gives a CGI program (RFC 3875 §4.1), with the whole path as SCRIPT_NAME."""
    path, _, query = uri.partition("?")
    return {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": path,
        "REQUEST_URI": uri,
        "QUERY_STRING": query,
        "SERVER_NAME": "example.org",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.7",
        **extra,
    }


def call(cgi_fcgi: str, address: str, env: dict[str, str], body: bytes = b"") -> bytes:
    argv = [cgi_fcgi, "-bind", "-connect", address]
    proc = subprocess.run(argv, env=env, input=body, capture_output=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def split(raw: bytes) -> tuple[str, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(), body


def test_get(cgi_fcgi: str, backends: dict[str, str]) -> None:
    status, body = split(call(cgi_fcgi, backends["root"], cgi_env("/hello/env?x=1")))
    environ = json.loads(body)
    assert status == "Status: 200 OK"
    assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == ("/hello/env", "x=1")


def test_post_large_body(cgi_fcgi: str, backends: dict[str, str]) -> None:
    data = os.urandom(3 << 20)
    env = cgi_env("/echo", "POST", CONTENT_LENGTH=str(len(data)))
    _, body = split(call(cgi_fcgi, backends["root"], env, data))
    got = json.loads(body)
    assert (got["length"], got["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())


def test_streamed_response(cgi_fcgi: str, backends: dict[str, str]) -> None:
    RELEASE.clear()
    argv = [cgi_fcgi, "-bind", "-connect", backends["root"]]
    env = cgi_env("/stream")
    with subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE) as proc:
        try:
            assert proc.stdout is not None
            seen = b""
            while not seen.endswith(b"first\n"):  # arrives while the app still waits
                piece = os.read(proc.stdout.fileno(), 65536)
                assert piece, f"cgi-fcgi ended early: {seen!r}"
                seen += piece
            RELEASE.set()
            rest = proc.stdout.read()
        finally:
            RELEASE.set()
    assert rest == b"last\n"


def test_script_name_option_mounts_the_app(cgi_fcgi: str, backends: dict[str, str]) -> None:
    env = cgi_env("/mnt/a%20b/env", SCRIPT_NAME="/mnt/a b/env")
    environ = json.loads(split(call(cgi_fcgi, backends["mnt"], env))[1])
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/mnt", "/a b/env")


def test_cgi_split_is_kept_without_the_option(cgi_fcgi: str, backends: dict[str, str]) -> None:
    env = cgi_env("/app/x/env", SCRIPT_NAME="/app", PATH_INFO="/x/env")
    environ = json.loads(split(call(cgi_fcgi, backends["root"], env))[1])
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/app", "/x/env")


def test_app_error(
    cgi_fcgi: str, backends: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "wsgikit.error"):
        status, body = split(call(cgi_fcgi, backends["root"], cgi_env("/error")))
    assert status == "Status: 500 Internal Server Error"
    assert b"kaboom" not in body
    assert "RuntimeError: peer kaboom" in caplog.text


SPAWNED = """#!{python}
import os, sys
sys.path.insert(0, {root!r})
from wsgiref.validate import validator
from wsgikit.servers.fastcgi import serve_fcgi
with open({pidfile!r} + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename({pidfile!r} + ".tmp", {pidfile!r})

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"spawned on fd 0: " + environ["PATH_INFO"].encode("latin-1")]

serve_fcgi(validator(app), threads=1)   # no bind: the socket cgi-fcgi left on fd 0
"""


@contextlib.contextmanager
def spawned(cgi_fcgi: str, folder: Path) -> Iterator[str]:
    """``cgi-fcgi -start``: the app runs with the listening unix socket on fd 0."""
    sock, pidfile, script = folder / "spawn.sock", folder / "spawn.pid", folder / "app.py"
    script.write_text(SPAWNED.format(python=sys.executable, root=str(ROOT), pidfile=str(pidfile)))
    script.chmod(0o755)
    start = [cgi_fcgi, "-start", "-connect", str(sock), str(script), "1"]
    subprocess.run(start, check=True, timeout=30, capture_output=True)
    deadline = time.monotonic() + 20
    while not pidfile.exists():
        assert time.monotonic() < deadline, "the spawned app did not start"
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    try:
        yield str(sock)
    finally:
        os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)  # reaped here only if it is our child; cgi-fcgi's otherwise


def test_started_by_cgi_fcgi_with_the_socket_on_fd_0(cgi_fcgi: str, tmp_path: Path) -> None:
    with spawned(cgi_fcgi, tmp_path) as sock:
        raw = call(cgi_fcgi, sock, cgi_env("/x", PATH_INFO="/spawned"))
    status, body = split(raw)
    assert (status, body) == ("Status: 200 OK", b"spawned on fd 0: /spawned")
