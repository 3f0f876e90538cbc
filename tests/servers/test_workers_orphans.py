"""A worker whose manager was killed (``kill -9``) stops by itself, even when the manager died
while the worker was still loading the app: nobody else would ever stop it, and it would keep
serving the port (with old code) for good."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.servers.manager_helpers import Managed, kill, until

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
