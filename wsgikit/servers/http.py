"""The reference HTTP/1.1 WSGI server: one epoll loop per process, the app on threads or inline.

The I/O thread accepts, reads and parses request heads (a slow client costs a socket and a few KiB,
never a thread); a complete request goes to a pool thread (``threads=N``) or runs on the loop
(``threads=0``, for apps that never block: there the whole body is read before the app runs). While
a response is pending nobody reads the connection, so memory stays bounded and pipelined requests
are answered in order::

    server = Server(app, ["127.0.0.1:8000"], threads=8, limits=Limits(max_body_size=10 << 20))
    server.run()            # until server.stop() or, under serve(), SIGINT/SIGTERM

With ``tls=TLSConfig(certfile=..., keyfile=...)`` (:mod:`wsgikit.servers._tls`) the binds speak
HTTPS, the handshakes running on the loop like any read.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections import deque
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, cast

from wsgikit._compiled import mypyc_attr
from wsgikit._http11 import END_OF_MESSAGE, Limits, ProtocolError, RequestHead, RequestParser
from wsgikit._wsgi_rules import check_headers
from wsgikit.gateway import (
    ClientError,
    ConnectionInfo,
    InputStream,
    Outcome,
    build_environ,
    date_header,
    run_app,
)
from wsgikit.servers._accesslog import access_log, log_outcome
from wsgikit.servers._body import SPOOL_AT, Body
from wsgikit.servers._connection import DISPATCH, RECV_SIZE, REJECT, RESUME, WAIT, Connection
from wsgikit.servers._https_redirect import REDIRECT_PORT, redirecting
from wsgikit.servers._loop import EventServer, run_until_signal
from wsgikit.servers._proxied import apply_proxies
from wsgikit.servers._tls import TLSConfig
from wsgikit.types import WSGIApplication

__all__ = ["HTTPConnection", "Limits", "Server", "serve"]

error_log = logging.getLogger("wsgikit.error")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_DRAIN_LIMIT = 1 << 18  # unread body we discard to keep a connection; more and we close it


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


def _error_response(status: int, detail: str, server_header: str | None) -> bytes:
    """A complete plain-text error response that closes the connection (with the Date every
    origin server's response carries, RFC 9110 §6.6.1, and the Server header of the others)."""
    reason = HTTPStatus(status).phrase
    body = f"{status} {reason}: {detail}\n".encode("latin-1", "replace")
    server = f"Server: {server_header}\r\n" if server_header else ""
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{date_header()}{server}\r\n"
    )
    return head.encode("latin-1") + body


class _Request:
    """A request with a body: its head, the body as it arrives, and whether it ended or broke."""

    __slots__ = ("body", "continued", "failure", "head")

    def __init__(self, head: RequestHead, body: Body) -> None:
        self.head = head
        self.body = body
        self.failure: _Failure | None = None  # the body broke the protocol before its end
        self.continued = False  # 100 Continue sent, or not needed any more

    @property
    def done(self) -> bool:
        """Nothing more of this body will come from the client."""
        return self.body.ended or self.failure is not None


@mypyc_attr(allow_interpreted_subclasses=True)  # the PROXY-protocol server, tests
class HTTPConnection(Connection):
    """HTTP/1.1 on one connection: parsed requests queue up and are served in order.

    The queue holds a :class:`RequestHead` for a request without a body (complete with its
    head), a :class:`_Request` for one with a body, and a :class:`_Failure` for bytes that broke
    the protocol. ``receiving`` is the request whose body is still arriving.
    """

    # self.server is a Server, typed EventServer: mypyc refuses a narrower redeclaration
    # of a base class's attribute; Server-only attributes are read through cast().
    __slots__ = ("current", "parser", "pending", "queue", "receiving", "started")

    def __init__(self, server: Server, sock: socket.socket, info: ConnectionInfo) -> None:
        tls = server.tls if info.base["wsgi.url_scheme"] == "https" else None
        if tls is not None:  # the handshake runs in the first reads, within the header timeout
            sock = self.start_tls(sock, tls, info)
        super().__init__(server, sock, info)
        self.reading = tls is not None
        self.parser = RequestParser(server.limits)
        self.queue: deque[RequestHead | _Request | _Failure] = deque()
        self.receiving: _Request | None = None
        self.current: _Request | None = None  # the request being served, if it has a body
        self.pending: Outcome | None = None  # inline: a response paused for a slow client
        self.started = 0.0  # when the current request's app was called (0.0: no access log)

    def start_tls(self, sock: socket.socket, tls: TLSConfig, info: ConnectionInfo) -> socket.socket:
        """The socket of a connection accepted on a TLS listener: TLS from its first byte."""
        return tls.wrap(sock, info.base)

    def add(self, events: list[Any]) -> None:
        queue = self.queue
        for event in events:
            kind = type(event)
            if kind is bytes:
                self.receiving.body.append(event)  # type: ignore[union-attr]  # the parser's order
            elif kind is RequestHead:
                if event.chunked or event.content_length:
                    server = self.server
                    spool_at = SPOOL_AT if server.buffer_bodies else None
                    req = _Request(event, Body(server.body_memory, spool_at))
                    self.receiving = req
                    queue.append(req)
                else:
                    queue.append(event)  # its END_OF_MESSAGE follows at once
            elif event is END_OF_MESSAGE:
                ended = self.receiving
                if ended is not None:
                    ended.body.end()
                    self.receiving = None
            else:  # a _Failure: what follows is never parsed (RFC 9112 §11.2)
                broken = self.receiving
                if broken is not None:
                    broken.failure = event
                    self.receiving = None
                queue.append(event)

    def discard(self) -> None:
        for item in self.queue:
            if type(item) is _Request:
                item.body.close()
        self.queue.clear()
        req, self.current = self.current, None
        if req is not None:
            req.body.close()
        outcome, self.pending = self.pending, None
        if outcome is not None:
            outcome.abandon()

    def ready(self) -> bool:
        """The first request can be served: its whole body is in (or broke), or, when bodies
        stream to the app, enough of it for a pool thread to take over."""
        queue = self.queue
        if not queue:
            return False
        first = queue[0]
        if type(first) is not _Request or first.done:
            return True
        if self.server.buffer_bodies:
            return False  # the whole body first: slow uploads cost no thread
        return first.head.expect_continue or first.body.size >= self.server.prebuffer

    def has_partial_request(self) -> bool:
        return bool(self.queue) or not self.parser.idle

    def on_data(self, data: bytes) -> int:
        self.add(_feed(self.parser, data))
        queue = self.queue
        if queue and type(queue[0]) is _Failure:
            return REJECT
        if self.ready():
            return DISPATCH
        if queue:  # the head is in: a body is arriving, and it may take long if it makes progress
            self.deadline = time.monotonic() + self.server.body_timeout
            self.continue_first()
        return WAIT

    def continue_first(self) -> None:
        """Ask for the body of the first request now, if it waits for a 100 (RFC 9110 §10.1.1).

        Only when the loop reads the body (``buffer_bodies``); and only for the first request,
        so the 100 comes after the answers to earlier pipelined requests.
        """
        req = self.queue[0]
        if (
            type(req) is _Request
            and not req.continued
            and req.head.expect_continue
            and self.server.buffer_bodies
        ):
            req.continued = True
            if not req.body.size:  # a client that sent the body anyway needs no 100
                with contextlib.suppress(OSError):  # gone: the next read finds out and closes
                    self.send(_CONTINUE)

    def reject(self) -> None:
        failure = self.queue[0]
        assert type(failure) is _Failure
        self.fail(failure.status, failure.detail)

    def on_timeout(self) -> None:
        if self.queue:
            self.fail(408, "request body not received in time")
        else:
            self.fail(408, "request head not received in time")

    def fail(self, status: int, detail: str) -> None:
        """Answer a protocol error and close; never resynchronise (RFC 9112 §11.2)."""
        peer = self.info.base.get("REMOTE_ADDR", "-")
        error_log.info("bad request from %s: %d %s", peer, status, detail)
        try:
            self.send(_error_response(status, detail, cast("Server", self.server).server_header))
        except OSError:
            self.server.close(self)
            return
        self.server.linger(self)

    def can_keep_alive(self) -> bool:
        """Asked by the engine as the head of a response to a streamed body goes out: may the
        connection stay open?

        Not when the request's body is still arriving and the app has not read it: more than
        a little of it, or an unknown amount, would have to be read just to be thrown away
        (then say ``Connection: close`` rather than close unannounced); nor when the client waits
        for a 100 Continue it never got (it may send the body or not).
        """
        req = self.current
        if req is None or req.done:
            return True
        if not req.continued and req.head.expect_continue and not req.body.size:
            return False
        length = req.head.content_length
        return length is not None and length - req.body.size <= _DRAIN_LIMIT

    def process(self) -> None:
        """Serve the queued requests in order, then hand the connection back or close it.

        Inline, a response the client does not take fast enough pauses (``pending``): the loop
        writes what waits and calls this again to go on with it, serving others meanwhile.
        """
        server = self.server
        logging_on = access_log.isEnabledFor(logging.INFO)
        while True:
            outcome = self.pending
            if outcome is not None:
                self.pending = None
                outcome.resume()
            else:
                outcome = self.start_next(logging_on)
                if outcome is None:
                    return  # a protocol error was answered; the connection closes
            if outcome.paused:
                self.pending = outcome
                server.write_later(self, RESUME)
                return
            if self.started:
                log_outcome(outcome, self.started)
            keep_alive = outcome.keep_alive
            if self.current is not None:
                keep_alive = self.end_body(keep_alive)
            if not keep_alive:
                server.linger(self)  # the loop lingers so the client reads the response whole
                return
            if self.unsent_size > server.write_buffer or not self.ready():
                break  # a client that does not read: its next requests wait until it does
        if self.queue:
            self.continue_first()
        server.release(self)

    def start_next(self, logging_on: bool) -> Outcome | None:
        """Take the next request off the queue and run the app (inline, its response may
        pause); None if the request was a bad one (answered, the connection closing)."""
        item = self.queue.popleft()
        if isinstance(item, RequestHead):
            head, req = item, None
            stream = _NO_BODY
        elif isinstance(item, _Failure):  # a bad request after good ones: answer, then close
            self.fail(item.status, item.detail)
            return None
        elif item.failure is not None:
            # The body is known to be malformed before the app saw any of it: answer the
            # error without calling the app (a broken body is no request).
            item.body.close()
            self.fail(item.failure.status, item.failure.detail)
            return None
        else:
            self.current = req = item
            head = item.head
            if item.body.ended:  # all of it is here: its length is known, even if chunked
                stream = InputStream(item.body, item.body.size)
            else:
                length = None if head.chunked else head.content_length
                stream = InputStream(_Stream(self, item), length)
        environ = build_environ(head, self.info, stream)
        if req is not None and head.chunked and req.body.ended:
            # Apps that read CONTENT_LENGTH bytes (Django, WebOb) would read nothing without it.
            environ["CONTENT_LENGTH"] = str(req.body.size)
        apply_proxies(self, environ)  # --forwarded-allow-ips
        server = self.server
        self.started = time.perf_counter() if logging_on else 0.0
        self.mark = self.unsent_size
        return run_app(
            server.app,
            environ,
            self,
            method=head.method,
            version=head.version,
            keep_alive=head.keep_alive and server.accepting and not server.stopping,
            server_header=cast("Server", server).server_header,
            pausable=not server.threads,
            keep_check=None if req is None or req.body.ended else self.can_keep_alive,
        )

    def end_body(self, keep_alive: bool) -> bool:
        """The response to a request with a body is done: finish with the body; whether the
        connection stays."""
        req = self.current
        assert req is not None
        try:
            return keep_alive and self.finish_body(req)
        finally:
            self.current = None
            req.body.close()

    def finish_body(self, req: _Request) -> bool:
        """Read and drop what the app left of a streamed body; False when the connection must
        close instead (too much left, the body broke, or the client is gone)."""
        if req.failure is not None:
            return False
        stream = _Stream(self, req)
        total = 0
        try:
            while not req.body.ended:
                total += len(stream.read(RECV_SIZE))
                if total > _DRAIN_LIMIT:
                    return False
        except ClientError:
            return False
        return True


class _Empty:
    def read(self, size: int) -> bytes:
        return b""


# wsgi.input of every body-less request: it holds no state (length 0 never reads), so one will do.
_NO_BODY = InputStream(_Empty(), 0)


class _Stream:
    """The body reader of a request whose body streams to the app: what arrived, then the
    socket, from the pool thread that owns the connection."""

    __slots__ = ("conn", "req")

    def __init__(self, conn: HTTPConnection, req: _Request) -> None:
        self.conn = conn
        self.req = req

    def read(self, size: int) -> bytes:
        req, conn = self.req, self.conn
        body = req.body
        while True:
            data = body.read(size)
            if data or body.ended:
                return data
            failure = req.failure
            if failure is not None:
                raise ClientError(failure.status, failure.detail)
            if not req.continued:  # RFC 9110 §10.1.1: only now that the app wants the body
                req.continued = True
                if req.head.expect_continue and not body.size:
                    conn.send(_CONTINUE)
            conn.add(_feed(conn.parser, conn.recv_blocking()))


@mypyc_attr(allow_interpreted_subclasses=True)  # the PROXY-protocol server, tests
class Server(EventServer):
    """The HTTP/1.1 server. Binds in the constructor, so ports are known before ``run()``.

    ``limits`` bound request lines, headers and bodies; ``server_header=None`` leaves the Server
    header out. The loop's own options (``threads``, ``buffer_bodies``, timeouts,
    ``write_buffer``...) are those of :class:`~wsgikit.servers._loop.EventServer`. With
    ``buffer_bodies`` (the default) ``Expect: 100-continue`` is answered when the head arrives
    and the loop reads the body; without it (streaming, threads only) when the app first reads.

    ``tls`` (a :class:`~wsgikit.servers._tls.TLSConfig`): every bind speaks HTTPS;
    :meth:`reload_tls` reads its files again. ``redirect_https``: more binds, plain HTTP, that
    redirect every request to ``https://host:https_port`` (default: the first bind's port).
    """

    connection_class = HTTPConnection

    def __init__(
        self,
        app: WSGIApplication,
        binds: Sequence[str] = ("127.0.0.1:8000",),
        *,
        limits: Limits | None = None,
        server_header: str | None = "wsgikit",
        tls: TLSConfig | None = None,
        redirect_https: Sequence[str] = (),
        https_port: int | None = None,
        **options: Any,
    ) -> None:
        if redirect_https and https_port is None and (tls is None or not binds):
            raise ValueError("redirect_https needs tls binds (or https_port: where HTTPS is)")
        self.tls = tls
        # Not super().__init__: compiled (mypyc 2.4), that call passed **options as one positional.
        EventServer.__init__(self, app, [*binds, *redirect_https], **options)
        self.limits = limits or Limits()
        if server_header:
            check_headers([("Server", server_header)])  # a bad value fails here, not per request
        self.server_header = server_header or None
        infos = [info for _, info in self.listeners.values()]
        for info in infos[: len(binds)] if tls else ():  # with tls, every bind speaks it
            info.base.update({"wsgi.url_scheme": "https", "HTTPS": "on"})
        if redirect_https:
            port = https_port or int(infos[0].base["SERVER_PORT"])
            for info in infos[len(binds) :]:
                info.base[REDIRECT_PORT] = port
            self.app = redirecting(app)

    def scheme_of(self, info: ConnectionInfo) -> str:
        return str(info.base["wsgi.url_scheme"])

    def reload_tls(self) -> None:
        """Read the certificate, key and CA files again for the connections to come (HUP);
        open connections go on with the old ones. TLSError (old context kept) if one is bad."""
        if self.tls is not None:
            self.tls.reload()


def serve(app: WSGIApplication, binds: Sequence[str], **options: Any) -> None:
    """Run a :class:`Server` in this (main) thread until SIGINT or SIGTERM, then stop gracefully."""
    run_until_signal(Server(app, binds, **options))
