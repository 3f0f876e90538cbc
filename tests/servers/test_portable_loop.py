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
# management, not the loop, and would add minutes (the loop under them is the same one).
MANAGER_TESTS = (
    "test_workers.py",
    "test_workers_orphans.py",
    "test_reload.py",
    "test_systemd.py",
    "test_accept_share.py",  # its workers are found serving by their epoll (/proc)
)
# The watchdog's tests sleep through timeouts (about 35 s). What they check is decided by the
# watchdog's timing of the app's calls and by the manager (--worker-timeout), not by the loop:
# the one thing the loop does for the watchdog, its sweep once a second, is checked on this
# poller by test_a_stuck_request_is_logged_once_with_its_line_and_stack, which stays.
WATCHDOG_CASES = (
    "test_a_stuck_worker_is_replaced_and_the_log_says_what_it_was_doing",
    "test_a_worker_holding_a_request_is_left_alone",
    "test_request_timeout_on_the_command_line_logs_the_stack",
    "test_a_request_within_the_timeout_is_not_logged",
    "test_a_slow_upload_is_not_a_stuck_request",
    "test_a_streaming_response_that_progresses_is_not_stuck",
    "test_one_next_call_longer_than_the_timeout_is_stuck",
    "test_inline_a_stuck_request_is_logged_while_it_holds_the_loop",  # its own thread looks
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
    watchdog = HERE.parent.relative_to(ROOT) / "test_watchdog.py"
    argv += [f"--deselect={watchdog}::{case}" for case in WATCHDOG_CASES]
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
    assert not [name for name in outcomes if name.startswith(WATCHDOG_CASES)]
    assert outcomes["test_a_stuck_request_is_logged_once_with_its_line_and_stack"] == []
