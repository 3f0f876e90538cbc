"""The server tests once more, on Linux, with the loop forced off epoll (issue #12 item 8).

Every test in tests/servers/ (HTTP, FastCGI, SCGI, the loop's drain, faults and slow peers) runs
in a pytest subprocess with ``WSGIKIT_POLLER=poll``: a ``selectors`` selector with ONESHOT
emulated by the poller, and the one that, like Windows' select(), sees a descriptor a pool
thread re-armed only once the loop is woken (kqueue and epoll selectors see it at once). One of
those tests, test_poller.py's ``test_a_server_runs_on_the_poller_the_environment_names``, fails
if the servers did not run on the poller named, so this run cannot silently be epoll's. It costs
as much as the directory itself, about 70 s on an idle 2-core machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve()
WITNESS = "test_a_server_runs_on_the_poller_the_environment_names"


# The worker-process manager's tests start whole managers as subprocesses: they test process
# management, not the loop, and would add minutes (the loop under them is the same one).
MANAGER_TESTS = (
    "test_workers.py",
    "test_workers_orphans.py",
    "test_reload.py",
    "test_systemd.py",
    "test_accept_share.py",  # its workers are found serving by their epoll (/proc)
)


@pytest.mark.timeout(1200)
def test_the_server_tests_pass_on_the_portable_poller(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    env = {**os.environ, "WSGIKIT_POLLER": "poll"}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"]
    argv += [f"--ignore={HERE}", *(f"--ignore={HERE.parent / name}" for name in MANAGER_TESTS)]
    argv += [f"--junitxml={report}", str(HERE.parent)]
    done = subprocess.run(
        argv, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    cases = ET.parse(report).getroot().iter("testcase")
    outcomes = {case.get("name", ""): [child.tag for child in case] for case in cases}
    assert len(outcomes) > 500  # the whole directory ran, not a corner of it
    assert not any("failure" in tags or "error" in tags for tags in outcomes.values())
    assert outcomes[WITNESS] == []  # ran and passed (a skip would be a "skipped" child)
