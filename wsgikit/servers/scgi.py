"""The SCGI server: serve a WSGI app to nginx (``scgi_pass``), Apache (mod_proxy_scgi) or lighttpd.

One request per connection (SCGI protocol §2): the netstring of headers is parsed with limits
(:mod:`wsgikit._scgi`, CONTENT_LENGTH first), the body is streamed to ``wsgi.input``, the
response goes back raw with a ``Status:`` line and the server closes. Same loop and thread pool
as the HTTP server::

    SCGIServer(app, ["127.0.0.1:4000"], threads=8).run()   # or serve_scgi(app, [...])

nginx's stock ``scgi_params`` send neither SCRIPT_NAME nor PATH_INFO: PATH_INFO is then
REQUEST_URI's path (decoded), under ``script_name`` when given (``--script-name /app``).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from wsgikit._http11 import DEFAULT_MAX_BODY
from wsgikit._scgi import END, SCGIError, SCGIParser, SCGIRequest
from wsgikit.gateway import ConnectionInfo, InputStream, run_app
from wsgikit.servers._accesslog import clock, log_outcome
from wsgikit.servers._body import SPOOL_AT, Body
from wsgikit.servers._cgivars import LOG_ERRORS, cgi_environ, check_script_name
from wsgikit.servers._connection import DISPATCH, REJECT, WAIT
from wsgikit.servers._fastcgi_streams import Refusal
from wsgikit.servers._gateway_connection import GatewayConnection
from wsgikit.servers._loop import EventServer, run_until_signal
from wsgikit.types import WSGIApplication

__all__ = ["SCGIConnection", "SCGIServer", "serve_scgi"]


# -- SCGI ----------------------------------------------------------------------------------------


class SCGIConnection(GatewayConnection):
    """One SCGI request: the head and body pieces queue up on the loop, a pool thread serves it."""

    __slots__ = ("body", "parser", "request")

    protocol = "SCGI"
    server: SCGIServer

    def __init__(self, server: EventServer, sock: socket.socket, info: ConnectionInfo) -> None:
        super().__init__(server, sock, info)
        srv = self.server
        # max_body is checked here, not by the parser: over it is a 413, not a broken protocol
        self.parser = SCGIParser(max_header_size=srv.max_header_size)
        self.request: SCGIRequest | None = None
        self.body = Body(srv.body_memory, SPOOL_AT if srv.buffer_bodies else None)

    def feed(self, data: bytes) -> None:
        """Parse and queue; SCGIError when the peer broke the protocol."""
        for event in self.parser.feed(data):
            if type(event) is bytes:
                self.body.append(event)
            elif type(event) is SCGIRequest:
                self.request = event
            elif event is END:
                self.body.end()

    def on_data(self, data: bytes) -> int:
        try:
            self.feed(data)
        except SCGIError as exc:
            self.failure = str(exc)
            return REJECT
        if self.request is None:
            return WAIT
        if self.too_big():
            return DISPATCH  # answered at once; the body is never read
        body, server = self.body, self.server
        if body.ended or (not server.buffer_bodies and body.size >= server.prebuffer):
            return DISPATCH
        return WAIT

    def too_big(self) -> bool:
        """CONTENT_LENGTH is over ``max_body``: the app is not called, the answer is 413."""
        limit, request = self.server.max_body, self.request
        return request is not None and limit is not None and request.content_length > limit

    def has_partial_request(self) -> bool:
        return True

    def discard(self) -> None:
        super().discard()
        self.body.close()

    def read(self, size: int) -> bytes:
        """The body reader: what arrived, then (streaming, on a pool thread) the socket."""
        return self.read_streamed(self.body, size, SCGIError)

    def process(self) -> None:
        """Serve the one request, then linger so the web server reads all of the response."""
        server = self.server
        request = self.request
        assert request is not None
        app, length = server.app, request.content_length
        if self.too_big():
            app, length = Refusal(413, f"request body over {server.max_body} bytes"), 0
        # CONTENT_LENGTH is the exact body size (SCGI protocol §3): wsgi.input stops there.
        body = InputStream(self.body if self.body.ended else self, length)
        environ = cgi_environ(request.headers, self.info, body, server.script_name, server.proxies)
        environ["wsgi.errors"] = LOG_ERRORS
        started = clock()
        outcome = run_app(
            app,
            environ,
            self,
            method=environ["REQUEST_METHOD"],
            version=None,
            keep_alive=False,
        )
        log_outcome(outcome, started)
        if outcome.aborted:
            # The response is cut (app error after the head, short body). The end of an SCGI
            # response is the close, so a FIN would pass it off as whole: reset instead.
            self.reset()
            server.close(self)
        else:
            server.linger(self)


class SCGIServer(EventServer):
    """The SCGI server. Binds in the constructor, so ports are known before ``run()``.

    ``max_header_size`` bounds the netstring of headers, ``max_body`` CONTENT_LENGTH (over it:
    413 without calling the app; 1 GiB by default, None: no limit); ``script_name`` is the mount
    point. Bodies are read and kept as the loop's ``buffer_bodies`` and ``body_memory`` say
    (memory, then temporary files). Bad options raise ValueError.
    """

    scheme = "scgi"

    connection_class = SCGIConnection

    def __init__(
        self,
        app: WSGIApplication,
        binds: Sequence[str] = ("127.0.0.1:4000",),
        *,
        threads: int = 8,
        script_name: str | None = None,
        max_header_size: int = 65536,
        max_body: int | None = DEFAULT_MAX_BODY,
        **options: Any,
    ) -> None:
        SCGIParser(max_header_size=max_header_size, max_body_size=max_body)  # ValueError now
        self.script_name = check_script_name(script_name)
        self.max_header_size = max_header_size
        self.max_body = max_body
        super().__init__(app, binds, threads=threads, **options)


def serve_scgi(app: WSGIApplication, binds: Sequence[str], **options: Any) -> None:
    """Run an :class:`SCGIServer` until SIGINT or SIGTERM, then stop gracefully."""
    run_until_signal(SCGIServer(app, binds, **options))
