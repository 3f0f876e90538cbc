"""Fixtures for the middleware tests: a real redis-server on a free port in a temp dir.

Tests that need it take ``redis_url`` (one server for the session) or ``own_redis`` (a server of
their own, which they may kill) and carry ``@pytest.mark.integration``. When the binary is
missing they skip with the reason, unless WSGIKIT_REQUIRE_INTEGRATION=1 (set by .ci/run), where
they fail instead.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration import free_port, missing


def _wait_until_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False  # exited: most likely the port was taken in the meantime
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"redis-server did not answer on port {port}: {log.read_text()[-2000:]}")


@contextmanager
def redis_server(directory: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start redis-server on a free port with its files in ``directory``; yield (process, URL)
    and stop it after (unless the test already did)."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (Debian package redis-server)")
    log = directory / "redis.log"
    for _ in range(3):  # the free port can be taken between probing and binding: try again
        port = free_port()
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(directory), "--logfile", str(log)]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if _wait_until_listening(proc, port, log):
                yield proc, f"redis://127.0.0.1:{port}/0"
                return
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=10)
    raise RuntimeError(f"redis-server would not start: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis://127.0.0.1:PORT/0 URL of a redis-server running for this test session."""
    with redis_server(tmp_path_factory.mktemp("redis")) as (_, url):
        yield url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """(process, URL) of a redis-server for this test alone, which it may kill."""
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A local TCP port nothing listens on: connections to it are refused at once."""
    return free_port()
