"""A client connection of the event loop: socket I/O helpers and the hooks a protocol fills in.

:mod:`wsgikit.servers._loop` owns connections; HTTP, FastCGI and SCGI subclass :class:`Connection`
and implement ``on_data`` (parse what the loop read: WAIT, DISPATCH or REJECT) and ``process``
(serve the ready requests, on a pool thread or inline). Whoever owns a connection writes with
``send``/``send_last``/``sendfile``, which make it a :class:`wsgikit.gateway.ResponseSink`::

    class EchoConnection(Connection):
        def on_data(self, data): ...
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING

from wsgikit._compiled import mypyc_attr
from wsgikit.gateway import ClientError, ConnectionInfo
from wsgikit.servers import _poller
from wsgikit.servers._poller import WAIT_READ, WAIT_WRITE

if TYPE_CHECKING:
    from wsgikit.servers._loop import EventServer

__all__ = [
    "BUSY",
    "DISPATCH",
    "LINGER",
    "READ",
    "RECV_SIZE",
    "REJECT",
    "RESUME",
    "WAIT",
    "WRITE",
    "Connection",
    "WantWrite",
]

RECV_SIZE = 65536
# Who owns a connection: the loop reading, a pool thread (or the inline app), the loop closing,
# the loop writing what a slow client has not taken yet.
READ, BUSY, LINGER, WRITE = 0, 1, 2, 3
RESUME = 4  # after WRITE: go on with a paused response once enough of what waits went out
WAIT, DISPATCH, REJECT = 0, 1, 2  # what on_data asks the loop to do
_MAX_HELD = 64  # parts one connection may hold for the end of the turn
_IOV_MAX = 1024  # buffers one sendmsg() takes (Linux UIO_MAXIOV)
_FILE_READ = 256 << 10  # bytes a socket the kernel cannot sendfile() to reads from a file at once


@mypyc_attr(native_class=False)  # mypyc compiles no subclass of BlockingIOError
class WantWrite(BlockingIOError):
    """A read found that the socket must write first (a TLS handshake whose flight the client
    has not read): the loop waits until it can write, and ``write_some`` goes on."""


def _join_send(sock: socket.socket, parts: Sequence[bytes | memoryview]) -> int:
    return sock.send(b"".join(parts))  # no sendmsg (Windows): one copy, one send


# The gather write: socket.sendmsg unbound where the OS has it (no Python frame in between).
_gather: Callable[[socket.socket, Sequence[bytes | memoryview]], int] = getattr(
    socket.socket, "sendmsg", _join_send
)


def _own_sendmsg(sock: socket.socket, parts: Sequence[bytes | memoryview]) -> int:
    """A socket class's own sendmsg (TLS: the unbound kernel one would send plaintext)."""
    return sock.sendmsg(parts)


def gather_for(sock: socket.socket) -> Callable[[socket.socket, Sequence[bytes | memoryview]], int]:
    """The gather write for ``sock``: the unbound kernel call only for a plain socket."""
    return _gather if type(sock) is socket.socket else _own_sendmsg


@mypyc_attr(allow_interpreted_subclasses=True)  # FastCGI, SCGI, AJP, tests
class Connection:
    """A client connection: socket I/O helpers plus the protocol hooks subclasses fill in."""

    __slots__ = (
        "deadline",
        "fd",
        "info",
        "later",
        "mark",
        "reading",
        "server",
        "sock",
        "state",
        "then",
        "unsent",
        "unsent_size",
    )

    def __init__(self, server: EventServer, sock: socket.socket, info: ConnectionInfo) -> None:
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.info = info
        self.state = READ
        self.reading = False  # part of a request has arrived: the request timeout applies
        self.deadline = 0.0
        self.later: list[bytes] | None = None  # the final bytes of responses, see send_last()
        # What the socket did not take yet, in order (see send()), and the state after it went.
        self.unsent: list[bytes | memoryview] = []
        self.unsent_size = 0
        self.then = READ
        # unsent_size when the current response began: a protocol serves no more pipelined
        # requests while write_buffer bytes wait, so only this response's bytes make it wait.
        self.mark = 0

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

    def ready(self) -> bool:
        """A request already received can be served now (asked when the loop finished writing
        what a slow client left, before reading more)."""
        return False

    def discard(self) -> None:
        """The connection is closed: release what the protocol holds for it (files, buffers)."""

    # -- I/O for whoever owns the connection (gateway.ResponseSink) --------------------------------

    def send(self, *parts: bytes | memoryview) -> None:
        """Gather-write ``parts``; what the socket does not take now waits in ``unsent``.

        A slow client costs its owner nothing until ``server.write_buffer`` bytes wait: up to
        there the owner goes on (a pool thread is free for the next request, the inline loop for the
        next client) and the loop writes the rest when the client reads. Past it, a pool thread
        waits for the client in the middle of a response (``write_timeout`` without progress
        raises TimeoutError), so memory stays bounded however fast the app produces; inline,
        the engine pauses the response instead (:meth:`room`).
        """
        later = self.later
        if later is not None:  # held bytes go first
            self.later = None
            parts = (*later, *parts)
        if self.unsent:  # earlier bytes still wait: these go behind them
            self._keep(parts, 0)
            return
        sock = self.sock
        try:
            if len(parts) == 1:
                sent = sock.send(parts[0])
            else:  # what sendmsg() cannot take at once waits in unsent
                sent = gather_for(sock)(sock, parts[:_IOV_MAX] if len(parts) > _IOV_MAX else parts)
        except BlockingIOError:
            sent = 0
        total = 0
        for part in parts:
            total += len(part)
        if sent < total:
            self._keep(parts, sent)

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

    def room(self) -> bool:
        """May more of a response go out now, or has the client left too much unread?"""
        return self.unsent_size <= self.server.write_buffer

    def flush(self) -> None:
        """Send the bytes held by send_last() now (OSError if the client is gone)."""
        later = self.later
        if later is not None:
            self.later = None
            self.send(*later)

    def _keep(self, parts: Sequence[bytes | memoryview], sent: int) -> None:
        """Queue what of ``parts`` is past the first ``sent`` bytes; wait if too much waits."""
        unsent = self.unsent
        for part in parts:
            size = len(part)
            if sent >= size:
                sent -= size
                continue
            unsent.append(memoryview(part)[sent:] if sent else part)
            self.unsent_size += size - sent
            sent = 0
        limit = self.server.write_buffer
        if self.unsent_size - self.mark > limit and self.server.threads:
            # A pool thread waits for the client once this response left too much unsent
            # (earlier answers count against the next request: see ``mark``); inline, the loop
            # never waits: the engine pauses the response (room()) and the loop resumes it.
            self.drain(self.mark + limit // 2)

    def drain(self, limit: int = 0) -> None:
        """Wait until at most ``limit`` bytes are unsent; TimeoutError if the client stalls."""
        while self.unsent_size > limit:
            if not self.write_some():
                self.wait(WAIT_WRITE, self.server.write_timeout)

    def write_some(self) -> bool:
        """Write what waits, without blocking; True when nothing is left (OSError: client gone)."""
        unsent = self.unsent
        try:
            sent = gather_for(self.sock)(self.sock, unsent[:_IOV_MAX])
        except BlockingIOError:
            return False
        self.unsent_size -= sent
        while unsent and sent >= len(unsent[0]):
            sent -= len(unsent.pop(0))
        if sent:
            unsent[0] = memoryview(unsent[0])[sent:]
        return not unsent

    def sendfile(self, file: IO[bytes], offset: int, count: int) -> int:
        """Send ``count`` bytes of ``file`` from ``offset`` with os.sendfile; bytes sent.

        The file goes after what waits; the kernel copies it, we do not queue it. A pool thread
        waits for the client; inline, BlockingIOError when nothing could go out now (the
        engine pauses the response, the loop resumes it when the client reads).
        """
        self.flush()
        inline = not self.server.threads
        if inline:
            if self.unsent:
                raise BlockingIOError("earlier bytes still wait for the client")
        else:
            self.drain()
        if type(self.sock) is not socket.socket:  # TLS: the kernel cannot encrypt what it sends
            return self._send_read(file, offset, count, inline)
        done = 0
        in_fd = file.fileno()
        while done < count:
            try:
                sent = os.sendfile(self.fd, in_fd, offset + done, count - done)
            except BlockingIOError:
                if inline:
                    if done:
                        return done
                    raise
                self.wait(WAIT_WRITE, self.server.write_timeout)
                continue
            if sent == 0:
                break  # the file is shorter than it was: the engine sees the shortfall
            done += sent
        return done

    def _send_read(self, file: IO[bytes], offset: int, count: int, inline: bool) -> int:
        """sendfile() for a socket that is not the kernel's (TLS): read the file and send().

        Inline, it stops once the socket did not take a piece (the engine pauses the response
        and calls again when the client read); a pool thread waits in send() past write_buffer.
        """
        done = 0
        in_fd = file.fileno()
        while done < count:
            data = os.pread(in_fd, min(_FILE_READ, count - done), offset + done)
            if not data:
                break  # the file is shorter than it was: the engine sees the shortfall
            self.send(data)
            done += len(data)
            if inline and self.unsent:
                break
        return done

    def wait(self, mask: int, timeout: float) -> None:
        """Block this (pool) thread until the socket is ready for ``mask`` (WAIT_READ or
        WAIT_WRITE); TimeoutError after ``timeout`` seconds."""
        if not _poller.wait_for(self.fd, mask, timeout):
            raise TimeoutError("client too slow")

    def recv_blocking(self) -> bytes:
        """More of the request, for a pool thread (or inline app); ClientError on timeout or EOF."""
        while True:
            try:
                data = self.sock.recv(RECV_SIZE)
            except BlockingIOError:
                try:
                    self.wait(WAIT_READ, self.server.body_timeout)
                except TimeoutError:
                    raise ClientError(408, "request body timed out") from None
                continue
            except OSError as exc:
                raise ClientError(400, f"connection lost while reading the body: {exc}") from None
            if not data:
                raise ClientError(400, "client closed the connection in the middle of the body")
            return data


if not hasattr(os, "sendfile"):  # Windows: the engine then reads file_wrapper bodies itself
    delattr(Connection, "sendfile")
