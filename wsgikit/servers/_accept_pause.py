"""What the loop does when ``accept()`` finds no file descriptor (or memory): rest the listeners.

The client stays in the listen backlog and the listener stays readable, so retrying on every
turn would spin and log a line a turn. The listeners leave the poll set for ``PAUSE`` seconds
instead (the open connections are served meanwhile at full speed), and the log gets one line
per ``LOG_EVERY`` seconds with the count of refused accepts::

    pause = AcceptPause()
    pause.refuse("Too many open files", listeners, poller)   # listeners rest
    if pause.resumes and now >= pause.resumes:
        pause.set_accepting(True, listeners, poller)
"""

from __future__ import annotations

import contextlib
import errno
import logging
import time
from collections.abc import Iterable

from wsgikit.servers._poller import Poller

__all__ = ["OUT_OF_FDS", "AcceptPause"]

error_log = logging.getLogger("wsgikit.error")

#: accept() errors that mean "no descriptor (or memory) now": the client waits in the backlog.
OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
PAUSE = 0.1  # seconds the listeners rest, instead of failing on every turn
LOG_EVERY = 5.0  # seconds between log lines while it lasts


class AcceptPause:
    """``resumes``: when the listeners accept again (0: they do)."""

    __slots__ = ("logged", "refused", "resumes", "why")

    def __init__(self) -> None:
        self.resumes = 0.0
        self.refused = 0  # accepts that found no descriptor since the last log line
        self.why = ""
        self.logged = -LOG_EVERY  # when that line was written

    def refuse(self, why: str, listeners: Iterable[int], poller: Poller) -> None:
        now = time.monotonic()
        self.refused += 1
        self.why = why
        self.log(now)
        self.resumes = now + PAUSE
        self.set_accepting(False, listeners, poller)

    def set_accepting(self, on: bool, listeners: Iterable[int], poller: Poller) -> None:
        """Put the listeners in the poll set (on) or take them out (off: EPOLLEXCLUSIVE forbids
        EPOLL_CTL_MOD, so a listener is unregistered rather than left there with no events)."""
        if on:
            self.resumes = 0.0
        for fd in listeners:
            with contextlib.suppress(OSError, ValueError):
                if not on:
                    poller.remove_listener(fd)
                elif fd not in poller.listener_events:
                    poller.add_listener(fd)

    def log(self, now: float) -> None:
        """One line per LOG_EVERY with the count (the loop's sweep logs the last ones)."""
        if self.refused and now >= self.logged + LOG_EVERY:
            error_log.error(
                "cannot accept connections: %s (%d refused since the last such line); "
                "the backlog keeps the clients, retrying every %gs",
                self.why,
                self.refused,
                PAUSE,
            )
            self.refused = 0
            self.logged = now
