"""The server tests once more, on Linux, with the loop forced off epoll (issue #12 item 8).

The tests in tests/servers/ that run a loop (HTTP, FastCGI, SCGI, AJP, the loop's drain, faults
and slow peers) run in a pytest subprocess with ``WSGIKIT_POLLER=poll``: a ``selectors``
selector with ONESHOT emulated by the poller, and the one that, like Windows' select(), sees a
descriptor a pool thread re-armed only once the loop is woken (kqueue and epoll selectors see it
at once). One of those tests, test_poller.py's
``test_a_server_runs_on_the_poller_the_environment_names``, fails if the servers did not run on
the poller named, so this run cannot silently be epoll's. Tests that never run a loop, and the
manager's (process management, not the loop), are left out.
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
# management, not the loop, and would add minutes (the loop under them is the same one). The
# watchdog's --worker-timeout tests are manager tests too (the manager replaces a worker whose
# heartbeat thread went silent; the loop's sweep they rely on runs here in the request-timeout
# tests), about 20 s of sleeping through timeouts.
MANAGER_TESTS = ("test_workers.py", "test_workers_orphans.py", "test_reload.py", "test_systemd.py")
MANAGER_CASES = (
    "test_watchdog.py::test_a_stuck_worker_is_replaced_and_the_log_says_what_it_was_doing",
    "test_watchdog.py::test_a_worker_holding_a_request_is_left_alone",
)
# Never on a loop at all: the CGI gateway serves one request on stdin/stdout, and CGIApplication
# waits on its script's pipes with a selectors.DefaultSelector of its own, not the loop's poller
# (both files pass with WSGIKIT_POLLER set to a name no poller has, which fails any server).
NO_LOOP_TESTS = ("test_cgi.py", "test_cgi_run.py")


@pytest.mark.timeout(1200)
def test_the_server_tests_pass_on_the_portable_poller(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    env = {**os.environ, "WSGIKIT_POLLER": "poll"}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"]
    argv += [f"--ignore={HERE}"]
    argv += [f"--ignore={HERE.parent / name}" for name in MANAGER_TESTS + NO_LOOP_TESTS]
    argv += [f"--deselect={HERE.parent.relative_to(ROOT) / case}" for case in MANAGER_CASES]
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
    left_out = tuple(case.rpartition("::")[2] for case in MANAGER_CASES)
    assert not [name for name in outcomes if name.startswith(left_out)]
