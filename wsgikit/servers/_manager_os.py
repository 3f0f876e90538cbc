"""The manager's dealings with the OS: binding its sockets, whom workers run as, signals, exits.

Private to :mod:`wsgikit.servers.workers`::

    socks = bind_all(["0.0.0.0:8000"], 2048, None, reuse_port=False)
    ids = worker_ids("www-data", None)   # (uid, gid), ValueError for an unknown name
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Sequence

from wsgikit.servers._listen import Bind, open_listener, parse_spec

__all__ = ["bind_all", "describe_exit", "kill", "read_text", "reuse_port_bind", "worker_ids"]


def bind_all(
    binds: Sequence[str], backlog: int, unix_mode: int | None, reuse_port: bool
) -> list[socket.socket]:
    """The manager's sockets: systemd's (LISTEN_FDS), then each bind; inheritable for USR2."""
    socks: list[socket.socket] = []
    try:
        for spec in binds:
            bind = parse_spec(spec)
            # reuse_port: the manager binds (port 0 gets its number) but does not listen: the
            # kernel would queue connections on a socket nobody accepts
            tcp_reuse = reuse_port and bind.kind == "tcp"
            socks.append(
                open_listener(
                    bind,
                    backlog=backlog,
                    unix_mode=unix_mode,
                    reuse_port=tcp_reuse,
                    listen=not tcp_reuse,
                )
            )
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    for sock in socks:
        sock.set_inheritable(True)
    return socks


def reuse_port_bind(sock: socket.socket, backlog: int, reuse_port: bool) -> str:
    """A worker's bind for one of the manager's sockets: the socket itself, or (reuse_port, TCP:
    the manager's is bound, not listening) a listening SO_REUSEPORT socket of its own."""
    if not reuse_port or sock.family == socket.AF_UNIX:
        return f"fd://{sock.fileno()}"
    host, port = sock.getsockname()[:2]
    bind = Bind("tcp", host=host, port=port, spec=f"{host}:{port}")
    return f"fd://{open_listener(bind, backlog=backlog, reuse_port=True).detach()}"


def worker_ids(user: str | None, group: str | None) -> tuple[int, int] | None:
    """(uid, gid) the workers take, or None; ValueError names what is wrong."""
    if user is None and group is None:
        return None
    import grp  # noqa: PLC0415 (POSIX only, and only with --user/--group)
    import pwd  # noqa: PLC0415

    uid, gid = os.getuid(), os.getgid()
    if user is not None:
        try:
            entry = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
        except KeyError:
            raise ValueError(f"--user {user!r}: no such user") from None
        uid, gid = entry.pw_uid, entry.pw_gid
    if group is not None:
        try:
            gid = (grp.getgrnam(group) if not group.isdigit() else grp.getgrgid(int(group))).gr_gid
        except KeyError:
            raise ValueError(f"--group {group!r}: no such group") from None
    if os.geteuid() != 0 and (uid, gid) != (os.geteuid(), os.getegid()):
        raise ValueError("--user/--group: only root can switch to another user or group")
    return uid, gid


def read_text(path: str) -> str:
    try:
        with open(path, encoding="ascii") as file:
            return file.read().strip()
    except OSError:
        return ""


def kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def describe_exit(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"killed by {signal.Signals(os.WTERMSIG(wait_status)).name}"
    code = os.waitstatus_to_exitcode(wait_status)
    return f"exit status {code}"
