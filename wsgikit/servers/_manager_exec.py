"""USR2: the manager re-execs itself (a new wsgikit, same command line) keeping its sockets.

The old manager forks; the child moves the listening sockets to fds 3, 4, ... and execs
``sys.executable`` with the same arguments, with ``LISTEN_FDS``/``LISTEN_PID`` as systemd sets
them (so the new manager finds them as it would find systemd's) and ``WSGIKIT_UPGRADE_FD``, a
pipe. The new manager starts its workers; once they accept it writes ``ready`` on that pipe and
the old manager drains its own workers and exits. If the new one dies first, the old one stays::

    upgrade = Reexec.start(listeners, pid_file)   # in the old manager
    ...; upgrade.poll()                             # True once the new one serves
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Sequence

from wsgikit.servers._systemd import LISTEN_FDS_START

__all__ = ["UPGRADE_ENV", "Reexec", "take_upgrade_fd"]

UPGRADE_ENV = "WSGIKIT_UPGRADE_FD"


def take_upgrade_fd() -> int:
    """In a re-exec'd manager: the pipe to tell the old one we serve (-1: not re-exec'd)."""
    text = os.environ.pop(UPGRADE_ENV, "")
    if not text.isdigit():
        return -1
    os.set_inheritable(int(text), False)
    return int(text)


def upgraded() -> bool:
    """True in a manager started by USR2: only the inherited sockets are served, not --bind."""
    return os.environ.get(UPGRADE_ENV, "").isdigit()


def tell_ready(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, b"ready\n")
        os.close(fd)


class Reexec:
    """The old manager's view of the upgrade under way."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd
        self.failed = False

    @classmethod
    def start(cls, listeners: Sequence[socket.socket], pid_file: str | None) -> Reexec:
        read, write = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            try:
                _exec(listeners, write)
            finally:
                os._exit(127)
        os.close(write)
        os.set_blocking(read, False)
        return cls(pid, read)

    def poll(self) -> bool:
        """True once the new manager said ready; ``failed`` once its pipe closed without."""
        try:
            data = os.read(self.fd, 64)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if data.startswith(b"ready"):
            return True
        if not data:
            self.failed = True
        return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _exec(listeners: Sequence[socket.socket], pipe: int) -> None:
    """In the forked child: sockets to fds 3.., the pipe after them, then execve."""
    import fcntl  # noqa: PLC0415 (POSIX only: the command line imports this module everywhere)

    sources = [sock.fileno() for sock in listeners] + [pipe]
    floor = LISTEN_FDS_START + len(sources)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, floor) for fd in sources]  # out of the targets' way
    for target, fd in enumerate(high, start=LISTEN_FDS_START):
        os.dup2(fd, target, inheritable=True)
    env = dict(os.environ)
    env["LISTEN_FDS"] = str(len(listeners))
    env["LISTEN_PID"] = str(os.getpid())
    env.pop("LISTEN_FDNAMES", None)
    env[UPGRADE_ENV] = str(LISTEN_FDS_START + len(listeners))
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
