"""The FastCGI server: serve a WSGI app to nginx, Apache (mod_proxy_fcgi, mod_fcgid) or cgi-fcgi.

Runs on the same epoll loop and thread pool as the HTTP server. Responder role; FCGI_KEEP_CONN
honoured; several request ids on one connection are accepted and served in order by the pool
thread that owns the connection; FCGI_ABORT_REQUEST closes the app's iterator; stdin is read
whole before the app runs (``buffer_bodies=False``: streamed to ``wsgi.input``). Without
``binds`` the listening socket inherited on fd 0 is used (FCGI_LISTENSOCK_FILENO, as mod_fcgid,
spawn-fcgi and ``cgi-fcgi -start`` start apps)::

    FastCGIServer(app, ["127.0.0.1:9000"], threads=8).run()   # or serve_fcgi(app, [...])

SCRIPT_NAME and PATH_INFO: nginx's stock ``fastcgi_params`` and Apache's mod_proxy_fcgi send the
whole path as SCRIPT_NAME and no PATH_INFO; the app is then mounted at the root, or at
``script_name`` (``--script-name /app``: SCRIPT_NAME "/app", PATH_INFO the rest of REQUEST_URI's
path, decoded). With these configs the web server sends the right values (no ``script_name``)::

    location /app/ {                                        # nginx
        include fastcgi_params;
        fastcgi_split_path_info ^(/app)(/.*)$;
        fastcgi_param SCRIPT_NAME $fastcgi_script_name;     # sent after the stock one: it wins
        fastcgi_param PATH_INFO $fastcgi_path_info;
        fastcgi_pass 127.0.0.1:9000;
    }

    SetEnvIf Request_URI "^/app/" proxy-fcgi-pathinfo=unescape   # Apache (mod_setenvif)
    ProxyPass "/app/" "fcgi://127.0.0.1:9000/" enablereuse=on    # reuse: FCGI_KEEP_CONN
    <Location "/app/">
        ProxyFCGISetEnvIf "true" SCRIPT_NAME "/app"
    </Location>
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from wsgikit._fcgi import (
    FCGI_LISTENSOCK_FILENO,
    FCGI_MAX_CONNS,
    Abort,
    FastCGIError,
    FastCGIProtocol,
    Request,
    Stdin,
    StdinEnd,
)
from wsgikit._http11 import DEFAULT_MAX_BODY
from wsgikit.gateway import ClientError, ConnectionInfo, InputStream, Outcome
from wsgikit.servers._accesslog import log_outcome
from wsgikit.servers._body import SPOOL_AT, Body
from wsgikit.servers._cgivars import LOG_ERRORS, cgi_environ, check_script_name
from wsgikit.servers._connection import DISPATCH, RECV_SIZE, REJECT, WAIT
from wsgikit.servers._fastcgi_streams import (
    FastCGIErrors,
    PendingRequest,
    Piece,
    Refusal,
    StdinReader,
    StdoutSink,
)
from wsgikit.servers._gateway_connection import GatewayConnection
from wsgikit.servers._listen import BindError
from wsgikit.servers._loop import EventServer, run_until_signal
from wsgikit.types import WSGIApplication, WSGIEnvironment

__all__ = [
    "FastCGIConnection",
    "FastCGIErrors",
    "FastCGIServer",
    "inherited_bind",
    "request_length",
    "serve_fcgi",
]

_PEEK_LIMIT = 1 << 20  # stdin waiting unread past which writes stop peeking for ABORT records


def request_length(params: Sequence[tuple[bytes, bytes]]) -> int | None:
    """CONTENT_LENGTH as a number; None when absent or not a number (the stream ends itself)."""
    for name, value in reversed(params):
        if name == b"CONTENT_LENGTH":  # 18 digits: past that it is hostile, not a body
            return int(value) if value.isdigit() and len(value) <= 18 else None
    return None


def inherited_bind() -> str:
    """``"fd://0"`` when fd 0 is a listening socket, else :class:`BindError`.

    FastCGI spec §2.2: a web server that starts the app leaves the listening socket open as
    FCGI_LISTENSOCK_FILENO (0); getpeername() on it fails with ENOTCONN.
    """
    fd = FCGI_LISTENSOCK_FILENO
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(os.fstat(fd).st_mode):
            sock = socket.socket(fileno=fd)
            try:
                listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            finally:
                sock.detach()  # fd 0 stays open: the server opens it again from the bind
            if listening:
                return f"fd://{fd}"
    raise BindError("no bind given and fd 0 is not a listening socket (FCGI_LISTENSOCK_FILENO)")


# -- one connection --------------------------------------------------------------------------------


class FastCGIConnection(GatewayConnection):
    """One transport connection from the web server: records in, requests served in order."""

    __slots__ = ("codec", "current", "order", "outbox", "requests")

    protocol = "FastCGI"
    server: FastCGIServer

    def __init__(self, server: EventServer, sock: socket.socket, info: ConnectionInfo) -> None:
        super().__init__(server, sock, info)
        srv = self.server
        self.codec = FastCGIProtocol(
            max_requests=srv.max_requests,
            max_params_size=srv.max_params_size,
            max_params=srv.max_params,
            multiplex=srv.multiplex,
            values=srv.values,
        )
        self.requests: dict[int, PendingRequest] = {}
        self.order: deque[PendingRequest] = deque()  # requests whose params are in, in order
        self.outbox = b""  # records the codec made itself (management answers, refusals)
        self.current: PendingRequest | None = None

    # -- parsing ------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Parse ``data`` and queue its events; FastCGIError when the peer broke the protocol."""
        requests = self.requests
        server = self.server
        for event in self.codec.feed(data):
            if type(event) is Stdin:
                req = requests[event.request_id]
                max_body = server.max_body
                if req.too_big or (
                    max_body is not None and req.body.size + len(event.data) > max_body
                ):
                    req.too_big = True  # keep reading to the end of stdin, keep nothing
                else:
                    req.body.append(event.data)
            elif type(event) is Request:
                spool_at = SPOOL_AT if server.buffer_bodies else None
                req = PendingRequest(event, Body(server.body_memory, spool_at))
                requests[req.rid] = req
                self.order.append(req)
            elif type(event) is StdinEnd:
                requests[event.request_id].body.end()
            elif type(event) is Abort:
                requests[event.request_id].aborted = True
        out = self.codec.data_to_send()
        if out:
            self.outbox += out

    def head_ready(self) -> bool:
        """The first queued request can be served: its stdin ended (or, when bodies stream to
        the app, enough of it arrived for a pool thread to take over)."""
        if not self.order:
            return False
        req = self.order[0]
        if req.ended or req.aborted:
            return True
        server = self.server
        return not server.buffer_bodies and req.body.size >= server.prebuffer

    def has_partial_request(self) -> bool:
        return self.codec.active_requests > 0

    def ready(self) -> bool:
        return self.head_ready()

    def on_data(self, data: bytes) -> int:
        try:
            self.feed(data)
        except FastCGIError as exc:
            self.failure = str(exc)
            return REJECT
        if self.outbox:  # management answers go out from the loop; what waits, the loop writes
            try:
                self.sendv([])
            except OSError:
                self.gone = True
                return REJECT
        if self.unsent or self.head_ready() or (self.codec.should_close and not self.order):
            return DISPATCH
        if not self.has_partial_request():  # only management records: an idle connection again
            self.reading = False
            self.deadline = time.monotonic() + self.server.idle_timeout
        return WAIT

    # -- I/O from the owner of the connection ------------------------------------------------------

    def sendv(self, pieces: list[Piece]) -> None:
        """Send ``pieces`` in order, the records the codec queued itself first (OSError: gone)."""
        if self.outbox:
            pieces.insert(0, self.outbox)
            self.outbox = b""
        if pieces:
            self.send(*pieces)

    def read_more(self) -> None:
        """Block (on a pool thread) for more records; ClientError when the peer failed or left."""
        if self.failure:
            raise ClientError(400, self.failure)
        try:
            data = self.recv_blocking()
        except ClientError:
            self.gone = True
            raise
        try:
            self.feed(data)
        except FastCGIError as exc:
            self.failure = str(exc)
            raise ClientError(400, self.failure) from None

    def stdin_waiting(self) -> int:
        """Bytes of stdin that arrived and wait in memory for their request to be served."""
        return sum(req.body.waiting for req in self.order)

    def peek(self) -> None:
        """Read what already arrived without waiting, to notice ABORT_REQUEST (spec §5.4) or EOF."""
        if self.failure or self.gone or self.stdin_waiting() > _PEEK_LIMIT:
            return
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.gone = True
            return
        try:
            self.feed(data)
        except FastCGIError as exc:
            self.failure = str(exc)

    # -- serving --------------------------------------------------------------------------------

    def process(self) -> None:
        """Serve the ready requests in order, then give the connection back, linger or drop it.

        Inline, a response the web server does not take fast enough pauses (``pending``): the
        loop writes what waits and calls this again to go on with it.
        """
        server = self.server
        try:
            if self.pending is not None:
                self.resume_paused()
                if self.pending is not None:  # paused again: the loop calls back
                    return
            while not (self.failure or self.gone) and self.head_ready():
                if self.codec.should_close or self.unsent_size > server.write_buffer:
                    break  # a peer that does not read: the rest wait until it took these
                if not self.serve(self.order.popleft()):
                    return
            if self.outbox and not (self.failure or self.gone):
                self.sendv([])
        except OSError:  # includes TimeoutError from a peer that stopped reading
            self.gone = True
        if self.failure or self.gone:
            self.drop()
        elif self.codec.should_close and not self.order:  # spec §5.1: no FCGI_KEEP_CONN
            server.linger(self)
        else:
            server.release(self)

    def serve(self, req: PendingRequest) -> bool:
        """Run the app for one request; False when its response paused (inline)."""
        self.current = req
        self.mark = self.unsent_size
        if req.aborted:
            return self.end(req, None, None)
        environ = self.environ(req)
        sink = StdoutSink(self, req, self.refusal(req, environ) or self.server.app, environ)
        return self.end(req, sink.run(environ), sink)

    def end(self, req: PendingRequest, outcome: Outcome | None, sink: StdoutSink | None) -> bool:
        """After the app (None: aborted before it ran): END_REQUEST, or pause if the response
        did (then False, and the loop resumes it). False too when the connection must go."""
        if outcome is not None and sink is not None and outcome.paused:
            self.pause(outcome, lambda: self.end(req, outcome, sink))
            return False
        try:
            if outcome is None or sink is None:
                tail: list[Piece] = []
            else:
                log_outcome(outcome, sink.started)
                if outcome.aborted and not req.aborted:
                    # The response is cut (app error after the head, short body): no
                    # END_REQUEST, so the web server sees a broken response, not a whole one.
                    self.gone = True
                if self.failure or self.gone:
                    return True
                tail = sink.held
            tail.append(self.codec.end_request(req.rid))
            self.sendv(tail)
            self.codec.request_done(req.rid)
            return True
        finally:
            self.current = None
            del self.requests[req.rid]
            req.body.close()

    def discard(self) -> None:
        super().discard()
        for req in self.requests.values():
            req.body.close()

    def refusal(self, req: PendingRequest, environ: WSGIEnvironment) -> WSGIApplication | None:
        """An answer of the server's own, for a body the app must not see; else None."""
        if req.too_big:
            return Refusal(413, f"request body over {self.server.max_body} bytes")
        length = request_length(req.params)
        if req.ended and length is not None and req.body.size < length:
            # Spec §3.3 (FCGI_STDIN): the web server sends CONTENT_LENGTH bytes; fewer is a
            # broken request, not a complete body (the HTTP server answers 400 the same way).
            missing = length - req.body.size
            return Refusal(400, f"stdin ended {missing} bytes before CONTENT_LENGTH")
        return None

    def environ(self, req: PendingRequest) -> WSGIEnvironment:
        params = req.params
        length = request_length(params)
        if length is None and req.ended:
            length = req.body.size  # all of stdin is here: its length is the body's
        reader = req.body if req.ended else StdinReader(self, req)
        environ = cgi_environ(
            params,
            self.info,
            InputStream(reader, length),
            self.server.script_name,
            self.server.proxies,
        )
        if length is None:  # none, empty or nonsense: the stdin stream says where the body ends
            environ.pop("CONTENT_LENGTH", None)
        else:  # apps that read CONTENT_LENGTH bytes (Django, WebOb) need it, even if not sent
            environ["CONTENT_LENGTH"] = str(length)
        if self.server.stderr == "fcgi":
            environ["wsgi.errors"] = FastCGIErrors(self, req)
        else:
            environ["wsgi.errors"] = LOG_ERRORS
        return environ


# -- the server ------------------------------------------------------------------------------------


class FastCGIServer(EventServer):
    """The FastCGI responder. Binds in the constructor; no ``binds``: the socket on fd 0.

    ``multiplex``/``max_requests``: several request ids per connection (FCGI_MPXS_CONNS,
    FCGI_MAX_REQS, both answered to FCGI_GET_VALUES with FCGI_MAX_CONNS = ``max_connections``).
    ``stderr``: ``"log"`` or ``"fcgi"`` (FCGI_STDERR records, shown in the web server's error
    log). ``script_name``: the mount point (see the module docstring). ``max_body``: the most
    stdin a request may send (more is answered 413 without calling the app; 1 GiB by default,
    None: no limit).
    Bodies are read and kept as the loop's ``buffer_bodies`` and ``body_memory`` say (memory,
    then temporary files). Bad options: ValueError.
    """

    scheme = "fcgi"

    connection_class = FastCGIConnection

    def __init__(
        self,
        app: WSGIApplication,
        binds: Sequence[str] = (),
        *,
        threads: int = 8,
        multiplex: bool = True,
        max_requests: int = 64,
        stderr: str = "log",
        script_name: str | None = None,
        max_body: int | None = DEFAULT_MAX_BODY,
        max_params_size: int = 1 << 20,
        max_params: int = 1000,
        **options: Any,
    ) -> None:
        if stderr not in ("log", "fcgi"):
            raise ValueError(f"stderr must be 'log' or 'fcgi', got {stderr!r}")
        if max_requests < 1:
            raise ValueError(f"max_requests must be >= 1, got {max_requests!r}")
        if max_body is not None and (type(max_body) is not int or max_body < 0):
            raise ValueError(f"max_body must be None or an int >= 0, got {max_body!r}")
        self.script_name = check_script_name(script_name)
        self.multiplex = multiplex
        self.max_requests = max_requests
        self.stderr = stderr
        self.max_body = max_body
        self.max_params_size = max_params_size
        self.max_params = max_params
        super().__init__(app, list(binds) or [inherited_bind()], threads=threads, **options)
        # FCGI_GET_VALUES answers (spec §4.1); the codec adds FCGI_MAX_REQS and FCGI_MPXS_CONNS.
        self.values = {FCGI_MAX_CONNS: str(self.max_connections).encode()}
        try:  # check the codec options now, not on the first connection
            FastCGIProtocol(
                max_requests=max_requests,
                max_params_size=max_params_size,
                max_params=max_params,
                multiplex=multiplex,
                values=self.values,
            )
        except ValueError:
            self.close_listeners()
            raise


def serve_fcgi(app: WSGIApplication, binds: Sequence[str] = (), **options: Any) -> None:
    """Run a :class:`FastCGIServer` until SIGINT or SIGTERM, then stop gracefully."""
    run_until_signal(FastCGIServer(app, binds, **options))
