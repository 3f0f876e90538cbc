"""The watchdog: ``--request-timeout`` logs a request stuck in the app (with its stack), never a
slow client; ``--worker-timeout`` replaces a worker whose heartbeat stopped (a real manager)."""

from __future__ import annotations

import http.client
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.helpers import read_all, running
from tests.servers.manager_helpers import Managed, until


def stuck_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    time.sleep(float(environ.get("QUERY_STRING") or 2.5))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"late"]


def upload_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(len(body)).encode()]


def trickle_app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    """A streaming response that makes progress: a chunk every 0.4 s for 2.4 s."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    for _ in range(6):
        time.sleep(0.4)
        yield b"tick\n"


def stuck_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "request running for" in r.getMessage()]


def get(port: int, path: str, timeout: float = 10.0) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().read()
    finally:
        conn.close()


def test_a_stuck_request_is_logged_once_with_its_line_and_stack(caplog) -> None:
    caplog.set_level(logging.WARNING, "wsgikit.error")
    with running(stuck_app, validate=False, request_timeout=1.0) as srv:
        assert get(srv.port, "/hang?2.5") == b"late"
    (line,) = stuck_lines(caplog)
    assert "GET /hang?2.5 from 127.0.0.1" in line
    assert "in stuck_app" in line and "time.sleep" in line


def test_a_request_within_the_timeout_is_not_logged(caplog) -> None:
    caplog.set_level(logging.WARNING, "wsgikit.error")
    with running(stuck_app, validate=False, request_timeout=2.0) as srv:
        assert get(srv.port, "/quick?0.1") == b"late"
        time.sleep(1.5)  # sweeps happen meanwhile
    assert stuck_lines(caplog) == []


@pytest.mark.parametrize("buffer_bodies", [True, False], ids=["buffered", "streamed"])
def test_a_slow_upload_is_not_a_stuck_request(caplog, buffer_bodies: bool) -> None:
    caplog.set_level(logging.WARNING, "wsgikit.error")
    # streamed with prebuffer=0: the app has the request at once and waits in wsgi.input.read
    options = {"buffer_bodies": buffer_bodies, "prebuffer": 0}
    with running(upload_app, validate=False, request_timeout=0.5, **options) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n")
            sock.sendall(b"Connection: close\r\n\r\n")
            for byte in b"abcdef":  # 6 bytes over 2.4 s: the client is slow, not the app
                time.sleep(0.4)
                sock.sendall(bytes([byte]))
            answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\n6")
    assert stuck_lines(caplog) == []


def test_a_streaming_response_that_progresses_is_not_stuck(caplog) -> None:
    caplog.set_level(logging.WARNING, "wsgikit.error")
    with running(trickle_app, validate=False, request_timeout=1.0) as srv:
        assert get(srv.port, "/stream") == b"tick\n" * 6
    assert stuck_lines(caplog) == []


def test_one_next_call_longer_than_the_timeout_is_stuck(caplog) -> None:
    def slow_chunk(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"a"
        time.sleep(2.5)
        yield b"b"

    caplog.set_level(logging.WARNING, "wsgikit.error")
    with running(slow_chunk, validate=False, request_timeout=1.0) as srv:
        assert get(srv.port, "/chunks") == b"ab"
    (line,) = stuck_lines(caplog)
    assert "GET /chunks" in line and "in slow_chunk" in line


def test_a_negative_request_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="request_timeout"):
        with running(stuck_app, request_timeout=-1.0):
            pass


WATCHED = """
import time

def app(environ, start_response):
    if environ["PATH_INFO"] == "/hang":
        time.sleep(60)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fine"]
"""


@pytest.fixture
def managed(tmp_path: Path) -> Iterator[Any]:
    started: list[Managed] = []

    def start(*args: str) -> Managed:
        (tmp_path / "wd_app.py").write_text(WATCHED)
        srv = Managed(tmp_path, "wd_app:app", *args)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.close()


def _hang(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)  # the worker has it (the connection then stays open, unanswered)


@pytest.mark.parametrize("threads", ["0", "1"], ids=["inline", "every-thread-stuck"])
def test_a_stuck_worker_is_replaced_and_the_log_says_what_it_was_doing(
    managed: Any, threads: str
) -> None:
    srv = managed("--workers", "1", "--threads", threads, "--worker-timeout", "2")
    (worker,) = srv.wait_workers(1)
    _hang(srv.port)
    until(lambda: srv.children() and worker not in srv.children(), 15)
    (replacement,) = srv.wait_workers(1)
    assert replacement != worker
    assert srv.get("/") == "fine"
    log = srv._err.read_text()
    assert f"worker {worker} sent no heartbeat" in log
    assert "GET /hang from 127.0.0.1" in log and "time.sleep(60)" in log


@pytest.mark.parametrize(
    ("threads", "timeout"),
    [("2", "1"), ("0", "0")],
    ids=["a-free-pool-thread-beats", "worker-timeout-0-is-off"],
)
def test_a_worker_holding_a_request_is_left_alone(managed: Any, threads: str, timeout: str) -> None:
    srv = managed("--workers", "1", "--threads", threads, "--worker-timeout", timeout)
    (worker,) = srv.wait_workers(1)
    _hang(srv.port)
    time.sleep(3.5)
    assert srv.children() == {worker}
    assert "sent no heartbeat" not in srv._err.read_text()


def test_inline_a_stuck_request_is_logged_while_it_holds_the_loop(caplog) -> None:
    caplog.set_level(logging.WARNING, "wsgikit.error")
    with running(stuck_app, validate=False, threads=0, request_timeout=1.0) as srv:
        assert get(srv.port, "/held?2.5") == b"late"
    (line,) = stuck_lines(caplog)
    assert "GET /held?2.5" in line and "in stuck_app" in line


@pytest.mark.parametrize("workers", [(), ("--workers", "2")], ids=["one-process", "workers"])
def test_request_timeout_on_the_command_line_logs_the_stack(managed: Any, workers: Any) -> None:
    srv = managed(*workers, "--request-timeout", "1")
    _hang(srv.port)
    until(lambda: "request running for" in srv._err.read_text(), 10)
    log = srv._err.read_text()
    assert "GET /hang from 127.0.0.1" in log and "time.sleep(60)" in log
