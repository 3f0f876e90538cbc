"""A client connection of the event loop: socket I/O helpers and the hooks a protocol fills in.

:mod:`wsgikit.servers._loop` owns connections; HTTP, FastCGI and SCGI subclass :class:`Connection`
and implement ``on_data`` (parse what the loop read: WAIT, DISPATCH or REJECT) and ``process``
(serve the ready requests, on a worker or inline). Whoever owns a connection writes with
``send``/``send_last``/``sendfile``, which make it a :class:`wsgikit.gateway.ResponseSink`::

    class EchoConnection(Connection):
        def on_data(self, data): ...
"""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

from wsgikit.gateway import BadRequest, ConnectionInfo

if TYPE_CHECKING:
    from wsgikit.servers._loop import EventServer

__all__ = ["BUSY", "DISPATCH", "LINGER", "READ", "RECV_SIZE", "REJECT", "WAIT", "Connection"]

RECV_SIZE = 65536
READ, BUSY, LINGER = 0, 1, 2  # who owns a connection: the loop reading, a worker, the loop closing
WAIT, DISPATCH, REJECT = 0, 1, 2  # what on_data asks the loop to do
_MAX_HELD = 64  # parts one connection may hold for the end of the turn (IOV_MAX is 1024)


class Connection:
    """A client connection: socket I/O helpers plus the protocol hooks subclasses fill in."""

    __slots__ = ("deadline", "fd", "info", "later", "reading", "server", "sock", "state")

    def __init__(self, server: EventServer, sock: socket.socket, info: ConnectionInfo) -> None:
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.info = info
        self.state = READ
        self.reading = False  # part of a request has arrived: the request timeout applies
        self.deadline = 0.0
        self.later: list[bytes] | None = None  # the final bytes of responses, see send_last()

    # -- protocol hooks --------------------------------------------------------------------------

    def on_data(self, data: bytes) -> int:
        """Parse bytes the loop read; return WAIT, DISPATCH or REJECT."""
        raise NotImplementedError

    def process(self) -> None:
        """Serve the ready requests; end with server.release(self), server.linger(self) or close."""
        raise NotImplementedError

    def reject(self) -> None:
        """Answer the protocol error on_data found (from the loop), then linger or close."""
        self.server.close(self)

    def on_timeout(self) -> None:
        """The loop's deadline passed while waiting for (the rest of) a request."""
        self.server.close(self)

    def has_partial_request(self) -> bool:
        return False

    def discard(self) -> None:
        """The connection is closed: release what the protocol holds for it (files, buffers)."""

    # -- I/O for whoever owns the connection (gateway.ResponseSink) --------------------------------

    def send(self, *parts: bytes) -> None:
        later = self.later
        if later is not None:  # held bytes go first
            self.later = None
            parts = (*later, *parts)
        sock = self.sock
        try:
            sent = sock.send(parts[0]) if len(parts) == 1 else sock.sendmsg(parts)
        except BlockingIOError:
            sent = 0
        total = 0
        for part in parts:
            total += len(part)
        if sent < total:
            self._send_rest(parts, sent)

    def send_last(self, *parts: bytes) -> None:
        """Send the last bytes of a response, or hold them until the loop's turn ends (inline).

        Inline, the loop serves every ready connection and then sends what it held, in a row:
        sends interleaved with Python work cost the kernel, the client and the CPU caches more
        (about 15% of a small request's cost). Only whole responses wait, never a stream's
        earlier parts, so a streaming app's chunks still go out as they come.
        """
        held = self.server._held
        if held is None:
            self.send(*parts)
            return
        later = self.later
        if later is None:
            self.later = list(parts)
            held.append(self)
        elif len(later) < _MAX_HELD:
            later += parts
        else:
            self.send(*parts)  # many pipelined answers: send them rather than gather more

    def flush(self) -> None:
        """Send the bytes held by send_last() now (OSError if the client is gone)."""
        later = self.later
        if later is not None:
            self.later = None
            self.send(*later)

    def _send_rest(self, parts: Sequence[bytes], sent: int) -> None:
        views = []
        for part in parts:
            if sent >= len(part):
                sent -= len(part)
                continue
            views.append(memoryview(part)[sent:])
            sent = 0
        while views:
            self.wait(select.POLLOUT, self.server.write_timeout)
            try:
                sent = self.sock.sendmsg(views)
            except BlockingIOError:
                continue
            while views and sent >= len(views[0]):
                sent -= len(views.pop(0))
            if views and sent:
                views[0] = views[0][sent:]

    def sendfile(self, file: IO[bytes], offset: int, count: int) -> int:
        self.flush()
        done = 0
        in_fd = file.fileno()
        while done < count:
            try:
                sent = os.sendfile(self.fd, in_fd, offset + done, count - done)
            except BlockingIOError:
                self.wait(select.POLLOUT, self.server.write_timeout)
                continue
            if sent == 0:
                break  # the file is shorter than it was: the engine sees the shortfall
            done += sent
        return done

    def wait(self, mask: int, timeout: float) -> None:
        poller = select.poll()
        poller.register(self.fd, mask)
        if not poller.poll(timeout * 1000):
            raise TimeoutError("client too slow")

    def recv_blocking(self) -> bytes:
        """More of the request, for a worker (or inline app); BadRequest on timeout or EOF."""
        while True:
            try:
                data = self.sock.recv(RECV_SIZE)
            except BlockingIOError:
                try:
                    self.wait(select.POLLIN, self.server.body_timeout)
                except TimeoutError:
                    raise BadRequest(408, "request body timed out") from None
                continue
            except OSError as exc:
                raise BadRequest(400, f"connection lost while reading the body: {exc}") from None
            if not data:
                raise BadRequest(400, "client closed the connection in the middle of the body")
            return data
