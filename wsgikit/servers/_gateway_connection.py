"""What the connections from a web server (FastCGI, AJP, SCGI) share: dropping a peer that broke
the protocol with one log line, cutting a broken response with a reset, keeping an inline response
that paused until the loop resumes it, and reading a body that streams to the app; and, in
:class:`AppSink`, what their response sinks share (calling the app, holding a list body back to
send it with the end of the request, running the engine).

A gateway's connection subclasses :class:`GatewayConnection` instead of ``Connection``, its sink
:class:`AppSink`::

    class AJPConnection(GatewayConnection):
        protocol = "AJP"  # names the peer in log lines
        def feed(self, data): ...  # parse; the codec's error when the peer broke the protocol

    class AJPSink(AppSink["AJPConnection"]):
        def send(self, *parts): ...  # the engine's bytes as AJP packets

    outcome = AJPSink(conn, app).run(environ)  # paused: conn.pause(outcome, finish)
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

from wsgikit.gateway import ClientError, ConnectionInfo, Outcome, run_app
from wsgikit.servers._accesslog import clock
from wsgikit.servers._body import Body
from wsgikit.servers._connection import RESUME, Connection
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

if TYPE_CHECKING:
    from wsgikit.servers._loop import EventServer

__all__ = ["AppSink", "GatewayConnection", "Piece"]

Piece = bytes | memoryview

error_log = logging.getLogger("wsgikit.error")
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST (socket(7))


class GatewayConnection(Connection):
    """A connection from a web server: ``failure`` (the peer broke the protocol: logged when
    dropped), ``gone`` (the peer closed or the socket failed: dropped without a word) and
    ``pending`` (inline: a paused response and what ends it once it is done)."""

    __slots__ = ("failure", "gone", "pending")

    protocol = "gateway"  # the protocol's name in log lines

    def __init__(self, server: EventServer, sock: socket.socket, info: ConnectionInfo) -> None:
        super().__init__(server, sock, info)
        self.failure = ""
        self.gone = False
        self.pending: tuple[Outcome, Callable[[], object]] | None = None

    def feed(self, data: bytes) -> None:
        """Parse ``data``: the codec's error when the peer broke the protocol."""
        raise NotImplementedError

    def reject(self) -> None:
        self.drop()

    def on_timeout(self) -> None:
        self.failure = "request not received in time"
        self.drop()

    def drop(self) -> None:
        """Close, with a log line when the peer broke the protocol."""
        if self.failure:
            peer = self.info.base.get("REMOTE_ADDR", "-")
            error_log.warning(
                "dropping the %s connection from %s: %s", self.protocol, peer, self.failure
            )
        self.server.close(self)

    def reset(self) -> None:
        """Make the close a reset: a response cut short (app error after the head, short body)
        must not reach the web server as a whole one, which a FIN can pass it off as."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)

    # -- an inline response that paused (run_app(pausable=True): the sink had no room) ------------

    def pause(self, outcome: Outcome, finish: Callable[[], object]) -> None:
        """Keep ``outcome`` until the client has read; ``finish`` ends it once it is done."""
        self.pending = (outcome, finish)
        self.server.write_later(self, RESUME)

    def resume_paused(self) -> None:
        """Go on with the paused response, then ``finish`` (which may :meth:`pause` again)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending[0].resume()
            pending[1]()

    def discard(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending[0].abandon()

    # -- a body that streams to the app (buffer_bodies=False) -------------------------------------

    def read_streamed(self, body: Body, size: int, error: type[Exception]) -> bytes:
        """``wsgi.input``'s reader on a pool thread: what arrived, then the socket. The codec's
        ``error``, or a failed send of what the codec answers while reading (AJP's
        GET_BODY_CHUNK), is a 400 to the app (:class:`ClientError`)."""
        while True:
            data = body.read(size)
            if data or body.ended:
                return data
            try:
                self.feed(self.recv_blocking())
            except error as exc:
                self.failure = str(exc)
                raise ClientError(400, self.failure) from None
            except OSError:
                self.gone = True
                raise ClientError(400, "the web server left in the middle of the body") from None


C = TypeVar("C", bound=GatewayConnection)


class AppSink(Generic[C]):
    """The base of a gateway's response sink, which also calls the app, to see its body.

    A list or tuple is all there already, so it is held back (``hold``: the sink keeps its
    records in ``held``) and goes out with the record that ends the request in one write
    (nothing waits on the app, PEP 3333 "Buffering and Streaming"); any other iterable is sent
    as it comes. An app that raises holds too: the engine's error page then goes out with the
    end record in one write (sent on its own, nginx could hand it whole to a client that closes
    before the end record comes).
    """

    __slots__ = ("app", "conn", "held", "hold", "started")

    def __init__(self, conn: C, app: WSGIApplication) -> None:
        self.conn = conn
        self.app = app
        self.started = clock()
        self.hold = False
        self.held: list[Piece] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self.hold = True
            raise
        self.hold = type(result) is list or type(result) is tuple
        return result

    def __repr__(self) -> str:  # the engine names the app in its log lines
        return repr(self.app)

    def room(self) -> bool:
        return self.conn.room()

    def send(self, *parts: bytes) -> None:
        """The response's bytes as the protocol's records (OSError: the web server is gone)."""
        raise NotImplementedError

    def run(self, environ: WSGIEnvironment) -> Outcome:
        """The engine runs the app for this request; inline, the response pauses when the web
        server does not read (:meth:`GatewayConnection.pause`). A CGI-style response
        (``version=None``): whether the connection is kept is the protocol's business."""
        return run_app(
            self,
            environ,
            self,
            method=environ["REQUEST_METHOD"],
            version=None,
            keep_alive=True,
            pausable=not self.conn.server.threads,
        )
