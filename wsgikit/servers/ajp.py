"""The AJP13 server: serve a WSGI app to Apache ``mod_proxy_ajp`` (or ``mod_jk``) as Tomcat would.

Same loop and thread pool as the HTTP server. The web server keeps its connections and sends one
request at a time on each (END_RESPONSE says whether the connection is reused); CPing is
answered on the loop. Bodies are read whole before the app runs (GET_BODY_CHUNK after each
chunk; ``buffer_bodies=False``: streamed to ``wsgi.input``)::

    AJPServer(app, ["127.0.0.1:8009"], secret="s3cret").run()   # or serve_ajp(app, [...])

    ProxyPass "/app/" "ajp://127.0.0.1:8009/app/" secret=s3cret     # httpd >= 2.4.42

``secret``: requests without that secret (the AJP ``secret`` attribute, httpd's ``secret=``;
with httpd before 2.4.42, ``SetEnv AJP_SECRET``) are answered 403 with a log line, never passed
to the app. httpd's other ``AJP_*`` variables reach the environ under their names.
``script_name``: the mount point (SCRIPT_NAME, the rest of the path PATH_INFO).
``max_packet_size`` must equal the web server's packet size (httpd: ``ProxyIOBufferSize``, 8192
by default). httpd checks a pooled connection before reusing it; ``ping=`` adds a CPing.
"""

from __future__ import annotations

import hmac
import socket
import time
from collections.abc import Sequence
from typing import Any

from wsgikit._ajp import END, AJPError, AJPProtocol, ForwardRequest
from wsgikit._http11 import DEFAULT_MAX_BODY
from wsgikit.config import Config, Setting
from wsgikit.gateway import ConnectionInfo, InputStream, Outcome
from wsgikit.servers._accesslog import log_outcome
from wsgikit.servers._ajp_exchange import AJPSink, cgi_params, secret_of
from wsgikit.servers._body import SPOOL_AT, Body
from wsgikit.servers._cgivars import LOG_ERRORS, cgi_environ, check_script_name
from wsgikit.servers._connection import DISPATCH, REJECT, WAIT
from wsgikit.servers._fastcgi_streams import Refusal
from wsgikit.servers._gateway_connection import GatewayConnection
from wsgikit.servers._loop import EventServer, run_until_signal
from wsgikit.types import WSGIApplication, WSGIEnvironment

__all__ = ["AJPConnection", "AJPServer", "SETTINGS", "serve_ajp", "server_options"]


class AJPConnection(GatewayConnection):
    """One connection from the web server: a request, its body, the response; then the next."""

    __slots__ = ("body", "codec", "request", "too_big")

    protocol = "AJP"
    server: AJPServer

    def __init__(self, server: EventServer, sock: socket.socket, info: ConnectionInfo) -> None:
        super().__init__(server, sock, info)
        srv = self.server
        self.codec = AJPProtocol(max_packet_size=srv.max_packet_size)
        self.request: ForwardRequest | None = None
        self.body = Body(srv.body_memory)
        self.too_big = False  # the body went past max_body: answered 413, the rest dropped

    # -- parsing ------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Parse, keep the body, send what the codec asks for (AJPError, OSError)."""
        for event in self.codec.feed(data):
            if type(event) is bytes:
                max_body = self.server.max_body
                if self.too_big or (
                    max_body is not None and self.body.size + len(event) > max_body
                ):
                    self.too_big = True  # keep reading to the end of the body, keep nothing
                else:
                    self.body.append(event)
            elif type(event) is ForwardRequest:
                self.request = event
                self.too_big = False
                spool_at = SPOOL_AT if self.server.buffer_bodies else None
                self.body = Body(self.server.body_memory, spool_at)
            elif event is END:
                self.body.end()
        out = self.codec.data_to_send()
        if out:
            self.send(out)

    def on_data(self, data: bytes) -> int:
        try:
            self.feed(data)
        except AJPError as exc:
            self.failure = str(exc)
            return REJECT
        except OSError:
            self.gone = True
            return REJECT
        if self.request is None:
            if self.codec.idle:  # only CPing: an idle connection again
                self.reading = False
                self.deadline = time.monotonic() + self.server.idle_timeout
            return WAIT
        server = self.server
        if self.body.ended or (not server.buffer_bodies and self.body.size >= server.prebuffer):
            return DISPATCH
        self.deadline = time.monotonic() + server.body_timeout  # a body chunk is progress
        return WAIT

    def on_timeout(self) -> None:
        if self.request is not None or not self.codec.idle:
            self.failure = "request not received in time"
        self.drop()

    def has_partial_request(self) -> bool:
        return not self.codec.idle

    def discard(self) -> None:
        super().discard()
        self.body.close()

    def read(self, size: int) -> bytes:
        """The body reader while it streams (a pool thread): what arrived, then the socket."""
        return self.read_streamed(self.body, size, AJPError)

    # -- serving ------------------------------------------------------------------------------

    def process(self) -> None:
        """Serve the one request received, then END_RESPONSE and back to reading (or close)."""
        if self.pending is not None:
            self.resume_paused()
            return
        request = self.request
        assert request is not None
        environ = self.environ(request)
        sink = AJPSink(self, self.refusal(request, environ) or self.server.app)
        self.end(sink.run(environ), sink)

    def end(self, outcome: Outcome, sink: AJPSink) -> None:
        """END_RESPONSE and release, pause (inline, the loop resumes), or close when cut."""
        server = self.server
        if outcome.paused:
            self.pause(outcome, lambda: self.end(outcome, sink))
            return
        log_outcome(outcome, sink.started)
        self.request = None
        if outcome.aborted or self.gone or self.failure:
            # A cut response (app error after the head, short body): no END_RESPONSE, so the
            # web server sees a broken response, not a whole one; a reset tells it at once.
            self.reset()
            self.drop()
            return
        # Reuse only a connection whose body was read to its end (streaming apps may stop early).
        reuse = self.body.ended and not server.stopping
        self.body.close()
        try:
            self.send(*sink.held, self.codec.end_response(reuse=reuse))
        except OSError:
            server.close(self)
            return
        if reuse:
            server.release(self)
        else:
            server.linger(self)

    def refusal(self, request: ForwardRequest, environ: WSGIEnvironment) -> Refusal | None:
        """The server's own answer for a request the app must not see; else None."""
        secret = self.server.secret
        if secret is not None:
            given = secret_of(request)
            if given is None or not hmac.compare_digest(given, secret):
                why = "no AJP secret" if given is None else "a wrong AJP secret"
                return Refusal(403, f"request with {why}")
        if self.too_big:
            return Refusal(413, f"request body over {self.server.max_body} bytes")
        length = request.content_length
        if self.body.ended and length is not None and self.body.size < length:
            return Refusal(400, f"body ended {length - self.body.size} bytes before Content-Length")
        return None

    def environ(self, request: ForwardRequest) -> WSGIEnvironment:
        length = request.content_length
        if length is None and self.body.ended:
            length = self.body.size  # a chunked upload read whole: its length is known now
        reader = self.body if self.body.ended else self
        body = InputStream(reader, length)
        environ = cgi_environ(cgi_params(request), self.info, body, self.server.script_name)
        if length is None:
            environ.pop("CONTENT_LENGTH", None)
        else:  # apps that read CONTENT_LENGTH bytes (Django, WebOb) need it
            environ["CONTENT_LENGTH"] = str(length)
        environ["wsgi.errors"] = LOG_ERRORS
        return environ


class AJPServer(EventServer):
    """The AJP13 container. Binds in the constructor, so ports are known before ``run()``.

    ``secret``: the shared secret every request must carry (None: none needed).
    ``max_packet_size``: 8192..65536, as the web server's. ``max_body``: the most body a request
    may send (more: 413 without calling the app; 1 GiB by default, None: no limit).
    ``script_name``: the mount point. Bad options raise ValueError.
    """

    scheme = "ajp"

    connection_class = AJPConnection

    def __init__(
        self,
        app: WSGIApplication,
        binds: Sequence[str] = ("127.0.0.1:8009",),
        *,
        threads: int = 8,
        secret: str | None = None,
        script_name: str | None = None,
        max_packet_size: int = 8192,
        max_body: int | None = DEFAULT_MAX_BODY,
        **options: Any,
    ) -> None:
        AJPProtocol(max_packet_size=max_packet_size)  # ValueError now, not per connection
        if max_body is not None and (type(max_body) is not int or max_body < 0):
            raise ValueError(f"max_body must be None or an int >= 0, got {max_body!r}")
        if secret is not None and not secret:
            raise ValueError("secret must not be empty (None: no secret needed)")
        self.secret = None if secret is None else secret.encode("utf-8")
        self.script_name = check_script_name(script_name)
        self.max_packet_size = max_packet_size
        self.max_body = max_body
        super().__init__(app, binds, threads=threads, **options)


def serve_ajp(app: WSGIApplication, binds: Sequence[str], **options: Any) -> None:
    """Run an :class:`AJPServer` until SIGINT or SIGTERM, then stop gracefully."""
    run_until_signal(AJPServer(app, binds, **options))


# -- the command line (``wsgikit ajp``) ------------------------------------------------------------

SETTINGS = (
    Setting(
        "secret",
        str,
        None,
        "shared secret every request must carry (httpd ProxyPass secret=), others get 403; "
        "prefer WSGIKIT_SECRET or the config file (ps shows a command line)",
        metavar="SECRET",
        sensitive=True,  # --print-config shows ***
    ),
    Setting(
        "max_packet_size",
        int,
        8192,
        "largest AJP packet, as the web server's (httpd ProxyIOBufferSize)",
        min=8192,
        max=65536,
    ),
)


def server_options(settings: Config) -> dict[str, Any]:
    """The AJPServer keywords of the ``wsgikit ajp`` settings of :data:`SETTINGS`."""
    return {
        "secret": settings["secret"] or None,
        "max_packet_size": settings["max_packet_size"],
        "script_name": settings["script_name"],
    }
