"""The command line's one logging setup: every wsgikit logger (here wsgikit.sessions) obeys
--log-level and prints time, level and logger name, under serve, fcgi, scgi and cgi."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers.fcgi_client import Client, request
from tests.test_cli import python_m_wsgikit, read_line
from wsgikit._scgi import encode_request

APPS = """
import logging

from wsgikit.middleware.sessions import RedisStore, SessionMiddleware


def chatty(environ, start_response):
    log = logging.getLogger("wsgikit.sessions")
    log.debug("sessions debug line")
    log.info("sessions info line")
    log.warning("sessions warning line")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
    return [b"done"]


def _counter(environ, start_response):
    session = environ["wsgikit.session"]
    session["n"] = session.get("n", 0) + 1
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


# A Redis nobody listens on: the save of a new session fails, the middleware logs an ERROR.
down = SessionMiddleware(
    _counter, secret="0123456789abcdef0123", store=RedisStore("redis://127.0.0.1:1/0", timeout=1)
)
"""
STAMP = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\]"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "wk_log_apps.py").write_text(textwrap.dedent(APPS))
    return tmp_path


def stop(proc: subprocess.Popen[str]) -> str:
    """SIGINT, wait, and the server's stderr."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=10)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def serve_one(site: Path, command: str, spec: str, *options: str) -> str:
    """Run ``command`` (serve, fcgi, scgi) on a free port, make one GET /, stop; its stderr."""
    proc = python_m_wsgikit(command, spec, "--bind", "127.0.0.1:0", *options, cwd=site)
    with proc:
        banner = read_line(proc)
        port = int(banner.rsplit(":", 1)[1])
        try:
            ASK[command](port)
        except BaseException:
            proc.kill()
            raise
        return stop(proc)


def ask_http(port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
    finally:
        connection.close()


def ask_fcgi(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        client = Client(sock)
        client.send(request(1, REQUEST_METHOD="GET", PATH_INFO="/", SERVER_NAME="a"))
        client.response(1)


def ask_scgi(port: int) -> None:
    headers = [(b"REQUEST_METHOD", b"GET"), (b"PATH_INFO", b"/"), (b"SERVER_NAME", b"a")]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(encode_request(headers))
        while sock.recv(65536):
            pass


ASK: dict[str, Callable[[int], None]] = {"serve": ask_http, "fcgi": ask_fcgi, "scgi": ask_scgi}


def run_cgi(site: Path, spec: str, *options: str) -> str:
    env = {**os.environ, "REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "a"}
    env.update(SERVER_PORT="80", SERVER_PROTOCOL="HTTP/1.1", GATEWAY_INTERFACE="CGI/1.1")
    done = subprocess.run(
        [sys.executable, "-m", "wsgikit", "cgi", spec, *options],
        cwd=site,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def stderr_of(site: Path, command: str, spec: str, *options: str) -> str:
    if command == "cgi":
        return run_cgi(site, spec, *options)
    return serve_one(site, command, spec, *options)


COMMANDS = ["serve", "fcgi", "scgi", "cgi"]


@pytest.mark.parametrize("command", COMMANDS)
def test_session_log_lines_have_time_level_and_logger(site: Path, command: str) -> None:
    err = stderr_of(site, command, "wk_log_apps:chatty")
    assert re.search(rf"^{STAMP} WARNING wsgikit\.sessions: sessions warning line$", err, re.M)


@pytest.mark.parametrize("command", COMMANDS)
def test_log_level_debug_shows_debug_lines_of_every_logger(site: Path, command: str) -> None:
    err = stderr_of(site, command, "wk_log_apps:chatty", "--log-level", "debug")
    assert re.search(rf"^{STAMP} DEBUG wsgikit\.sessions: sessions debug line$", err, re.M)


@pytest.mark.parametrize("command", COMMANDS)
def test_log_level_error_hides_the_sessions_warning(site: Path, command: str) -> None:
    err = stderr_of(site, command, "wk_log_apps:chatty", "--log-level", "error")
    assert "sessions warning line" not in err and "WARNING" not in err


def test_a_down_session_store_is_one_formatted_error_line(site: Path) -> None:
    err = stderr_of(site, "serve", "wk_log_apps:down")
    pattern = rf"^{STAMP} ERROR wsgikit\.sessions: session not saved, the response is cut short"
    assert re.search(pattern, err, re.M)
