"""systemd: socket activation (``LISTEN_FDS``) and readiness notification (``NOTIFY_SOCKET``).

:func:`listen_fds` is ``sd_listen_fds(unset_environment=1)``: the listening sockets systemd (or
``systemd-socket-activate``, or a re-exec'd wsgikit manager) passed from fd 3 on, only when
``LISTEN_PID`` is this process; the variables are removed so that children do not take them
for theirs. :func:`notify` is ``sd_notify``: one datagram to ``NOTIFY_SOCKET`` (a path, or
``@name`` for the abstract namespace), nothing when it is unset::

    binds = [f"fd://{fd}" for fd in listen_fds()]
    notify("READY=1", "STATUS=serving")
"""

from __future__ import annotations

import contextlib
import os
import socket
import time

__all__ = ["LISTEN_FDS_START", "listen_fds", "monotonic_usec", "notify"]

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START
_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def listen_fds() -> list[int]:
    """The inherited listening fds (3, 4, ...), once: the environment variables go."""
    pid, count = os.environ.get("LISTEN_PID", ""), os.environ.get("LISTEN_FDS", "")
    for name in _VARIABLES:
        os.environ.pop(name, None)
    if pid != str(os.getpid()) or not count.isdigit():
        return []  # meant for another process (our parent's parent, say)
    fds = list(range(LISTEN_FDS_START, LISTEN_FDS_START + int(count)))
    for fd in fds:
        with contextlib.suppress(OSError):
            os.set_inheritable(fd, False)  # as sd_listen_fds: FD_CLOEXEC (workers are forks)
    return fds


def notify(*lines: str) -> bool:
    """Send ``lines`` to the service manager; False when there is none (or it did not listen)."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    target = "\0" + address[1:] if address[0] == "@" else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(lines).encode(), target)
    except OSError:
        return False
    return True


def monotonic_usec() -> str:
    """``MONOTONIC_USEC=...``, which Type=notify-reload wants next to ``RELOADING=1``."""
    return f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
