"""The reference HTTP/1.1 WSGI server: one epoll loop per process, the app on threads or inline.

The I/O thread accepts, reads and parses request heads (a slow client costs a socket and a few KiB,
never a thread); a complete request goes to a worker thread (``threads=N``) or runs on the loop
(``threads=0``, for apps that never block: there the whole body is read before the app runs). While
a response is pending nobody reads the connection, so memory stays bounded and pipelined requests
are answered in order::

    server = Server(app, ["127.0.0.1:8000"], threads=8)
    server.run()            # until server.stop() or, under serve(), SIGINT/SIGTERM
"""

from __future__ import annotations

import logging
import socket
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from wsgikit._accesslog import access_log, log_access
from wsgikit._http11 import END_OF_MESSAGE, Limits, ProtocolError, RequestHead, RequestParser
from wsgikit._wsgi_rules import check_headers
from wsgikit.gateway import ClientError, ConnectionInfo, InputStream, build_environ, run_app
from wsgikit.servers._connection import DISPATCH, RECV_SIZE, REJECT, WAIT, Connection
from wsgikit.servers._loop import EventServer, run_until_signal
from wsgikit.types import WSGIApplication

__all__ = ["HTTPConnection", "Server", "serve"]

error_log = logging.getLogger("wsgikit.error")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_DRAIN_LIMIT = 1 << 18  # unread body we discard to keep a connection; more and we close it
_SPOOL_AT = 1 << 20  # inline mode: body bytes held in memory before the rest goes to a file


class _Spool:
    """A big request body in a temporary file: inline mode reads the whole body before the app
    runs (the loop never waits for a client), and must not hold it in memory."""

    __slots__ = ("file", "open")

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile(prefix="wsgikit-body-")  # noqa: SIM115 (we close it)
        self.open = True  # body bytes still arriving


class _Failure:
    """A protocol error, queued after the events that came before it in the same bytes."""

    __slots__ = ("detail", "status")

    def __init__(self, error: ProtocolError) -> None:
        self.status = error.status
        self.detail = error.detail


def _feed(parser: RequestParser, data: bytes) -> list[Any]:
    """Events for ``data``, ending with a _Failure if the bytes broke the protocol.

    The parser returns the events before an error and keeps the error for the next call (so a
    valid pipelined request before a bad one is still answered); ``parser.error`` tells now.
    """
    try:
        events: list[Any] = parser.feed(data)
    except ProtocolError as exc:
        return [_Failure(exc)]
    if parser.error is not None:
        events.append(_Failure(parser.error))
    return events


def _error_response(status: int, detail: str) -> bytes:
    """A complete plain-text error response that closes the connection."""
    reason = HTTPStatus(status).phrase
    body = f"{status} {reason}: {detail}\n".encode("latin-1", "replace")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class HTTPConnection(Connection):
    """HTTP/1.1 on one connection: parsed events queue up; requests are served in order."""

    __slots__ = ("buffered", "complete", "events", "parser", "spool")

    server: Server

    def __init__(self, server: EventServer, sock: socket.socket, info: ConnectionInfo) -> None:
        super().__init__(server, sock, info)
        self.parser = RequestParser(self.server.limits)
        self.events: deque[Any] = deque()
        self.complete = 0  # END_OF_MESSAGE (and _Failure) events queued
        self.buffered = 0  # body bytes queued
        self.spool: _Spool | None = None

    def add(self, events: list[Any]) -> None:
        if self.spool is not None:
            self._add_spooling(events)
            return
        for event in events:
            if event is END_OF_MESSAGE or type(event) is _Failure:
                self.complete += 1
            elif type(event) is bytes:
                self.buffered += len(event)
        self.events.extend(events)
        if self.buffered > _SPOOL_AT and not self.complete and self.server.buffer_bodies:
            self._start_spool()

    def _start_spool(self) -> None:
        """Move the queued body of the first request (no end queued yet) into a file."""
        events = self.events
        head = events.popleft()
        spool = _Spool()
        while events:
            spool.file.write(events.popleft())
        self.buffered = 0
        events.append(head)
        events.append(spool)
        self.spool = spool

    def _add_spooling(self, events: list[Any]) -> None:
        spool = self.spool
        assert spool is not None
        for event in events:
            if spool.open and type(event) is bytes:
                spool.file.write(event)
                continue
            if event is END_OF_MESSAGE or type(event) is _Failure:
                self.complete += 1
                if spool.open:
                    spool.open = False
                    spool.file.seek(0)
            elif type(event) is bytes:
                self.buffered += len(event)
            self.events.append(event)

    def discard(self) -> None:
        spool, self.spool = self.spool, None
        if spool is not None:
            spool.file.close()

    def ready(self) -> bool:
        """A request can be served: a whole head, and enough of the body for the mode."""
        if self.complete:
            return True
        if not self.events or self.server.buffer_bodies:
            return False  # the whole body first (inline: the loop must never wait for a client)
        head = self.events[0]
        if type(head) is not RequestHead:
            return False
        return head.expect_continue or self.buffered >= self.server.prebuffer

    def has_partial_request(self) -> bool:
        return bool(self.events) or not self.parser.idle

    def on_data(self, data: bytes) -> int:
        self.add(_feed(self.parser, data))
        events = self.events
        if events and type(events[0]) is _Failure:
            return REJECT
        if self.complete or self.ready():
            return DISPATCH
        if events:  # the head is in: a body is arriving, and it may take long if it makes progress
            self.deadline = time.monotonic() + self.server.body_timeout
            head = events[0]
            if head.expect_continue and self.server.buffer_bodies and not self.buffered:
                # The loop reads the whole body before the app runs, so ask for it now
                # (RFC 9110 §10.1.1 lets a server send 100 before the app looks at the body).
                head.expect_continue = False
                self.send(_CONTINUE)
        return WAIT

    def reject(self) -> None:
        failure = self.events[0]
        self.fail(failure.status, failure.detail)

    def on_timeout(self) -> None:
        self.fail(408, "request head not received in time")

    def fail(self, status: int, detail: str) -> None:
        """Answer a protocol error and close; never resynchronise (RFC 9112 §11.2)."""
        peer = self.info.base.get("REMOTE_ADDR", "-")
        error_log.info("bad request from %s: %d %s", peer, status, detail)
        try:
            self.send(_error_response(status, detail))  # behind the answers to earlier requests
        except OSError:
            self.server.close(self)
            return
        self.server.linger(self)

    def process(self) -> None:
        """Serve the queued requests in order, then hand the connection back or close it."""
        server = self.server
        app = server.app
        events = self.events
        logging_on = access_log.isEnabledFor(logging.INFO)
        while True:
            head = events.popleft()
            if type(head) is _Failure:  # a bad request after good ones: answer it, then close
                self.fail(head.status, head.detail)
                return
            body: _Body | None = None
            if not (head.chunked or head.content_length) and events[0] is END_OF_MESSAGE:
                events.popleft()  # no body: its end came with the head
                self.complete -= 1
                stream = _NO_BODY
            else:
                body = _Body(self, head)
                stream = InputStream(body, None if head.chunked else head.content_length)
            environ = build_environ(head, self.info, stream)
            started = time.perf_counter() if logging_on else 0.0
            outcome = run_app(
                app,
                environ,
                self,
                method=head.method,
                version=head.version,
                keep_alive=head.keep_alive and not server.stopping,
                server_header=server.server_header,
            )
            if logging_on:
                elapsed = time.perf_counter() - started
                log_access(environ, outcome.status, outcome.body_bytes, elapsed)
            if not outcome.keep_alive or (body is not None and not body.drain(_DRAIN_LIMIT)):
                server.linger(self)  # the loop lingers so the client reads the response whole
                return
            if not self.ready():
                break
        server.release(self)


class _Empty:
    def read(self, size: int) -> bytes:
        return b""


# wsgi.input of every body-less request: it holds no state (length 0 never reads), so one will do.
_NO_BODY = InputStream(_Empty(), 0)


class _Body:
    """The body reader of one request: queued body events first, then the socket."""

    __slots__ = ("conn", "done", "expect_continue")

    def __init__(self, conn: HTTPConnection, head: RequestHead) -> None:
        self.conn = conn
        self.done = False
        self.expect_continue = head.expect_continue and not (conn.buffered or conn.complete)

    def read(self, size: int) -> bytes:
        if self.done:
            return b""
        conn = self.conn
        if self.expect_continue:  # RFC 9110 §10.1.1: only now that the app wants the body
            self.expect_continue = False
            conn.send(_CONTINUE)
        events = conn.events
        while True:
            if events:
                event = events[0]
                if event is END_OF_MESSAGE:
                    events.popleft()
                    conn.complete -= 1
                    self.done = True
                    return b""
                if type(event) is _Failure:  # left queued: the connection closes after this
                    raise ClientError(event.status, event.detail)
                if type(event) is _Spool:
                    data = event.file.read(size)
                    if data:
                        return data
                    events.popleft()
                    conn.discard()
                    continue
                if len(event) <= size:
                    events.popleft()
                    conn.buffered -= len(event)
                    return event  # type: ignore[no-any-return]
                events[0] = event[size:]
                conn.buffered -= size
                return event[:size]  # type: ignore[no-any-return]
            conn.add(_feed(conn.parser, conn.recv_blocking()))

    def drain(self, limit: int) -> bool:
        """Discard what the app did not read, so the next request can be parsed; False: close."""
        if self.done:
            return True
        if self.expect_continue:
            return False  # the client may or may not send the body now: only closing is safe
        total = 0
        try:
            while chunk := self.read(RECV_SIZE):
                total += len(chunk)
                if total > limit:
                    return False
        except ClientError:
            return False
        return True


class Server(EventServer):
    """The HTTP/1.1 server. Binds in the constructor, so ports are known before ``run()``.

    ``threads=0`` runs the app on the loop; ``limits`` bound request lines, headers and bodies;
    ``prebuffer`` is how much body the loop reads before a worker takes over, unless
    ``buffer_bodies``: then the loop reads every whole body first (over 1 MiB into a temporary
    file), so a slow upload costs no thread, and answers ``Expect: 100-continue`` as the head
    arrives rather than when the app first reads (inline mode always does this);
    ``server_header=None`` leaves the Server header out. Timeouts are in seconds. The loop's own
    options (``threads``, timeouts, ``write_buffer``...) are those of ``EventServer``.
    """

    connection_class = HTTPConnection

    def __init__(
        self,
        app: WSGIApplication,
        binds: Sequence[str] = ("127.0.0.1:8000",),
        *,
        limits: Limits | None = None,
        server_header: str | None = "wsgikit",
        prebuffer: int = 65536,
        buffer_bodies: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(app, binds, **options)
        self.limits = limits or Limits()
        if server_header:
            check_headers([("Server", server_header)])  # a bad value fails here, not per request
        self.server_header = server_header or None
        self.prebuffer = prebuffer
        self.buffer_bodies = buffer_bodies or not self.threads


def serve(app: WSGIApplication, binds: Sequence[str], **options: Any) -> None:
    """Run a :class:`Server` in this (main) thread until SIGINT or SIGTERM, then stop gracefully."""
    run_until_signal(Server(app, binds, **options))
