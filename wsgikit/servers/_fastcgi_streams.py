"""The streams of one FastCGI request: its stdin as ``wsgi.input``, its STDOUT records as the
engine's sink, and ``wsgi.errors`` as FCGI_STDERR records.

Used by :class:`wsgikit.servers.fastcgi.FastCGIConnection`, which keeps one :class:`Request` per
request id::

    sink = StdoutSink(conn, req, app, environ)
    outcome = sink.run(environ)  # run_app, pausable inline
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from typing import TYPE_CHECKING

from wsgikit._fcgi import Request as RequestEvent
from wsgikit.gateway import ClientError
from wsgikit.servers._body import Body
from wsgikit.servers._cgivars import LogErrors, error_log
from wsgikit.servers._gateway_connection import AppSink, Piece
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

if TYPE_CHECKING:
    from wsgikit.servers.fastcgi import FastCGIConnection

__all__ = ["FastCGIErrors", "PendingRequest", "Piece", "Refusal", "StdinReader", "StdoutSink"]

_SMALL = 8192  # response parts up to this size are joined into one STDOUT record


class PendingRequest:
    """A request the codec announced: params, its stdin as it arrives, what the peer said since."""

    __slots__ = ("aborted", "body", "keep_conn", "params", "rid", "too_big")

    def __init__(self, event: RequestEvent, body: Body) -> None:
        self.rid = event.request_id
        self.keep_conn = event.keep_conn
        self.params = event.params
        self.body = body
        self.aborted = False
        self.too_big = False  # stdin went past max_body: answered 413, the rest dropped

    @property
    def ended(self) -> bool:
        return self.body.ended


class StdinReader:
    """The body reader of a request whose stdin streams to the app: what arrived, then the
    socket, from the pool thread that owns the connection."""

    __slots__ = ("conn", "req")

    def __init__(self, conn: FastCGIConnection, req: PendingRequest) -> None:
        self.conn = conn
        self.req = req

    def read(self, size: int) -> bytes:
        req, conn = self.req, self.conn
        while True:
            data = req.body.read(size)
            if data:
                return data
            if req.aborted:
                raise ClientError(400, "the web server aborted the request (FCGI_ABORT_REQUEST)")
            if req.ended:
                return b""
            conn.read_more()


class Refusal:
    """The server's own answer to a request whose body the app must not see."""

    __slots__ = ("detail", "status")

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        peer = environ.get("REMOTE_ADDR", "-")
        error_log.info("bad request from %s: %d %s", peer, self.status, self.detail)
        body = f"{self.status} {HTTPStatus(self.status).phrase}: {self.detail}\n".encode()
        status = f"{self.status} {HTTPStatus(self.status).phrase}"
        start_response(
            status,
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]


class StdoutSink(AppSink["FastCGIConnection"]):
    """The response sink of one request: STDOUT records; between writes, a look for ABORT.

    A list or tuple body, or the error page of an app that raised, goes out with END_REQUEST in
    one write (:class:`AppSink`).
    """

    __slots__ = ("environ", "req", "writes")

    def __init__(
        self,
        conn: FastCGIConnection,
        req: PendingRequest,
        app: WSGIApplication,
        environ: WSGIEnvironment,
    ) -> None:
        super().__init__(conn, app)
        self.req = req
        self.environ = environ
        self.writes = 0

    def send(self, *parts: bytes) -> None:
        conn, rid = self.conn, self.req.rid
        if self.writes and not self.hold:
            conn.peek()
        if self.req.aborted:
            raise OSError("the web server aborted the request (FCGI_ABORT_REQUEST)")
        if conn.failure or conn.gone:
            raise OSError("the FastCGI connection is gone")
        self.writes += 1
        respond = conn.codec.respond
        if len(parts) > 1 and sum(len(part) for part in parts) <= _SMALL:
            pieces = respond(rid, b"".join(parts))
        else:
            pieces = []
            for part in parts:
                pieces += respond(rid, part)
        if self.hold:
            self.held += pieces
        elif pieces:
            conn.sendv(pieces)


class FastCGIErrors(LogErrors):
    """``wsgi.errors`` sent as FCGI_STDERR records of the request (``stderr="fcgi"``).

    Only the thread serving the request writes records (another thread's write could land in
    the middle of a STDOUT record); other threads, and writes after the request, go to the log.
    """

    __slots__ = ("conn", "req", "thread")

    def __init__(self, conn: FastCGIConnection, req: PendingRequest) -> None:
        self.conn = conn
        self.req = req
        self.thread = threading.get_ident()

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors takes str, got {type(text).__name__}")
        conn = self.conn
        if (
            conn.current is not self.req
            or conn.failure
            or conn.gone
            or threading.get_ident() != self.thread
        ):
            return super().write(text)
        data = text.encode("utf-8", "backslashreplace")
        if data:
            try:
                conn.sendv(conn.codec.stderr(self.req.rid, data))
            except OSError:
                conn.gone = True
        return len(text)
