"""Listening sockets for bind specs (wsgikit._binds): TCP v4 and v6, unix sockets, inherited fds.

Shared by every server in this package::

    sock = open_listener(parse_bind("127.0.0.1:0"), backlog=1024)
    print(describe(sock))   # "http://127.0.0.1:41234"
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat

from wsgikit._binds import Bind, BindError, parse_bind

__all__ = ["Bind", "BindError", "describe", "open_listener", "parse_bind", "parse_spec"]


def parse_spec(spec: str) -> Bind:
    """:func:`parse_bind`, with the spec named in the error."""
    try:
        return parse_bind(spec)
    except BindError as exc:
        raise BindError(f"bind {spec!r}: {exc}") from None


def open_listener(
    bind: Bind,
    *,
    backlog: int = 2048,
    unix_mode: int | None = None,
    reuse_port: bool = False,
    listen: bool = True,
) -> socket.socket:
    """A non-blocking listening socket for ``bind``; errors become BindError naming the spec.

    ``reuse_port`` (TCP): SO_REUSEPORT, so that each worker process binds a socket of its own;
    ``listen=False`` only binds (a manager reserving the port: nobody would accept there).
    """
    try:
        if bind.kind == "fd":
            sock = socket.socket(fileno=bind.fd)
            if sock.type != socket.SOCK_STREAM:
                sock.detach()
                raise BindError(f"bind {bind.spec!r}: fd {bind.fd} is not a stream socket")
        elif bind.kind == "unix":
            _remove_stale_unix_socket(bind.path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(bind.path)
                if unix_mode is not None:
                    os.chmod(bind.path, unix_mode)
                sock.listen(backlog)
            except BaseException:
                sock.close()
                raise
        else:
            infos = socket.getaddrinfo(
                bind.host, bind.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, kind, proto, _, address = infos[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
                if listen:
                    sock.listen(backlog)
            except BaseException:
                sock.close()
                raise
    except OSError as exc:
        raise BindError(f"bind {bind.spec!r}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


def _remove_stale_unix_socket(path: str) -> None:
    """Remove a socket file left by a dead server; refuse to touch anything that is not a socket."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise BindError(f"bind 'unix:{path}': exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        raise BindError(f"bind 'unix:{path}': another server is listening there")
    finally:
        probe.close()


def describe(sock: socket.socket, scheme: str = "http") -> str:
    """A URL-ish name of a listening socket for log lines: ``http://127.0.0.1:8000``."""
    address = sock.getsockname()
    if sock.family == getattr(socket, "AF_UNIX", -1):  # Windows may lack AF_UNIX
        return f"unix:{address}"
    if sock.family == socket.AF_INET6:
        return f"{scheme}://[{address[0]}]:{address[1]}"
    return f"{scheme}://{address[0]}:{address[1]}"
