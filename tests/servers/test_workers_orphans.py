"""A worker whose manager was killed (``kill -9``) stops by itself, even when the manager died
while the worker was still loading the app: nobody else would ever stop it, and it would keep
serving the port (with old code) for good."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from tests.servers.manager_helpers import Managed, kill, until

STUCK_IMPORT = """
import time
time.sleep(60)  # far longer than the test waits
app = None
"""

SLOW_IMPORT = """
import time
time.sleep(3)  # the manager is killed meanwhile

def app(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
"""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_a_worker_still_loading_when_its_manager_is_killed_stops(tmp_path: Path) -> None:
    (tmp_path / "slow_import.py").write_text(SLOW_IMPORT)
    srv = Managed(tmp_path, "slow_import:app", "--workers", "1")
    workers: set[int] = set()
    try:
        until(lambda: len(srv.children()) == 1, 5)
        workers = srv.children()
        os.kill(srv.pid, signal.SIGKILL)
        srv.proc.wait()
        # 3 s of import, then one heartbeat (1 s) to notice, and a drain with no request
        until(lambda: not any(map(_alive, workers)), 10)
    finally:
        srv.close()
        for pid in workers:  # an orphan left running would hold its port for good
            kill(pid, signal.SIGKILL)


def _kill_manager_then_wait(srv: Managed, workers: set[int], timeout: float) -> None:
    try:
        os.kill(srv.pid, signal.SIGKILL)
        srv.proc.wait()
        until(lambda: not any(map(_alive, workers)), timeout)
    finally:
        srv.close()
        for pid in workers:
            kill(pid, signal.SIGKILL)


def test_a_worker_stuck_importing_the_app_leaves_with_its_manager(tmp_path: Path) -> None:
    (tmp_path / "stuck_import.py").write_text(STUCK_IMPORT)
    srv = Managed(tmp_path, "stuck_import:app", "--workers", "2")
    until(lambda: len(srv.children()) == 2, 5)
    _kill_manager_then_wait(srv, srv.children(), 3)  # the import alone would take 60 s


def test_an_inline_worker_stuck_in_a_request_leaves_after_the_drain_timeout(
    tmp_path: Path,
) -> None:
    srv = Managed(
        tmp_path, "wk_info:app", "--workers", "1", "--threads", "0", "--timeout-shutdown", "1"
    )
    workers = srv.wait_workers(1)
    with socket.create_connection(("127.0.0.1", srv.port)) as client:
        client.sendall(b"GET /slow?60 HTTP/1.1\r\nHost: x\r\n\r\n")  # the app sleeps 60 s
        time.sleep(0.5)  # the worker has read it and is in the app
        # a beat (1 s) or the TERM, the 1 s drain, its 1 s of grace: well under the 60 s
        _kill_manager_then_wait(srv, workers, 8)
