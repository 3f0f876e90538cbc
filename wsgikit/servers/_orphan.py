"""A worker leaves when its manager dies: nobody else would ever stop it.

A worker whose manager was killed (``kill -9``, the OOM killer, a test's cleanup) would keep
serving the port with old code for good, reparented to init. Two guards, both from
:func:`~wsgikit.servers._manager_worker.worker_main`::

    if not follow_manager(manager_pid):   # manager_pid: os.getpid() before the fork
        return 0                          # it died before we got here

- On Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` (prctl(2)): the kernel sends TERM the moment
  the manager exits, even while the worker is still importing the app (TERM then has its default
  action) or stuck in it. Set after the privileges were dropped: a credential change clears it.
- Everywhere, the manager's pid is the one the manager had *before* the fork, never
  ``getppid()`` read in the child: a manager killed between the fork and that call would have
  left the child comparing against init's pid, and it would never notice. The worker's monitor
  thread compares ``getppid()`` with it once a second (systems without prctl).

Without a manager, nobody sends the SIGKILL that ends a drain stuck in the app (inline mode):
:func:`orphan_deadline` exits the process itself once the drain's time is up.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading

__all__ = ["follow_manager", "manager_gone", "orphan_deadline"]

error_log = logging.getLogger("wsgikit.error")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ORPHAN_GRACE = 1.0  # seconds past the drain's timeout before an orphan exits, stuck or not


def follow_manager(manager: int) -> bool:
    """Ask for TERM when ``manager`` exits (Linux); False if it is already gone."""
    if sys.platform.startswith("linux"):
        _set_pdeathsig(signal.SIGTERM)
    # After prctl: a manager that died before it was set is seen here, one that dies after
    # sends the signal.
    return not manager_gone(manager)


def manager_gone(manager: int) -> bool:
    """The worker's parent is no longer ``manager`` (reparented to init or a subreaper)."""
    return os.getppid() != manager


def orphan_deadline(timeout: float) -> None:
    """Exit the process ``timeout`` (+ a grace) seconds from now, whatever the app is doing."""

    def leave() -> None:
        error_log.error("worker %d: no manager and the drain is stuck: exiting", os.getpid())
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(timeout + ORPHAN_GRACE, leave)
    timer.daemon = True
    timer.start()


def _set_pdeathsig(signum: int) -> None:
    try:
        # The process's own symbols (libc among them): find_library would run ldconfig
        libc = ctypes.CDLL(None, use_errno=True)
        failed = libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0
    except (OSError, AttributeError):
        failed = True
    if failed:  # the monitor's once-a-second look remains
        error_log.debug("worker %d: PR_SET_PDEATHSIG unavailable", os.getpid())
