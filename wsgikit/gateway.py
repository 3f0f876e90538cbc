"""The server side of PEP 3333, shared by the HTTP server and the FastCGI, SCGI and CGI gateways.

A server parses a request, builds the environ with :func:`build_environ` (HTTP) or
:func:`environ_from_cgi` (gateways that receive CGI variables), and calls :func:`run_app` with a
*sink* it owns: something with ``send(*parts)`` (and optionally ``sendfile``). The engine enforces
the ``start_response`` rules, decides the framing and hands the sink bytes; no socket in it::

    environ = build_environ(head, conn, InputStream(reader, head.content_length))
    outcome = run_app(app, environ, sink, method=head.method, version=head.version,
                      keep_alive=head.keep_alive)
    if not outcome.keep_alive:
        close_the_connection()

What the app raises costs its request, never the server: any exception, BaseExceptions too
(SystemExit, KeyboardInterrupt, GeneratorExit, a library's own), is logged once with its
traceback and answered 500, or cuts the response when the head is out. PEP 3333 leaves this to
the server, and an app's ``sys.exit()`` must not stop a server that serves other apps' requests.
Only :class:`ServerExit` goes through: a server raises it into a running app (from a signal
handler, say) to get out of it, and decides what it means.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Protocol

from wsgikit._environ import (
    BodyReader,
    ClientError,
    ConnectionInfo,
    FileWrapper,
    HTTPRequest,
    InputStream,
    build_environ,
    environ_from_cgi,
)
from wsgikit._http11 import format_response_head
from wsgikit._wsgi_rules import check_headers, check_status
from wsgikit.types import OptExcInfo, WSGIApplication, WSGIEnvironment

__all__ = [
    "BodyReader",
    "ClientError",
    "ConnectionInfo",
    "FileWrapper",
    "HTTPRequest",
    "InputStream",
    "Outcome",
    "ResponseSink",
    "ServerExit",
    "build_environ",
    "environ_from_cgi",
    "run_app",
]

error_log = logging.getLogger("wsgikit.error")

_JOIN_LIMIT = 16384  # a body this small is cheaper copied after the head than gathered


class ResponseSink(Protocol):
    """Where the engine puts response bytes. ``send`` is a gather write of all parts, in order.

    ``send`` raises :class:`OSError` when the client is gone; the engine then closes the app's
    iterable and reports the response as aborted. A sink may also offer
    ``sendfile(file, offset, count) -> int`` (bytes sent) for ``wsgi.file_wrapper`` bodies, and
    ``send_last(*parts)`` for the bytes that end a response: the sink may hold those a moment
    (the HTTP server sends a turn's worth of responses in a row), never the earlier ones.
    """

    def send(self, *parts: bytes) -> None: ...


# -- the call ------------------------------------------------------------------------------------

_date_cache: list[Any] = [0, ""]


_server_lines: dict[str, str] = {}


def _server_line(value: str) -> str:
    line = f"Server: {value}\r\n"
    if len(_server_lines) < 16:
        _server_lines[value] = line
    return line


def _date_header() -> str:
    """The Date field line (RFC 9110 §6.6.1), formatted once a second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[1] = f"Date: {formatdate(now, usegmt=True)}\r\n"
        _date_cache[0] = now
    return _date_cache[1]  # type: ignore[no-any-return]


class Outcome:
    """What happened: for the access log and for the connection's fate."""

    __slots__ = ("aborted", "body_bytes", "keep_alive", "status")

    def __init__(self) -> None:
        self.status = ""
        self.body_bytes = 0
        self.keep_alive = False
        self.aborted = False  # the response is incomplete: the connection must be closed now

    @property
    def status_code(self) -> int:
        return int(self.status[:3]) if self.status else 0


class ServerExit(BaseException):
    """Raised by a server's own code through a running app: :func:`run_app` closes the app's
    iterable and lets it through, where it treats every other exception as the app's failure.

    The servers raise subclasses of it from their signal handlers (a second SIGTERM stops an
    inline server now; a Ctrl-C reaches code around ``Server.run()`` as KeyboardInterrupt).
    """


class _ClientGone(Exception):
    """The sink failed: the peer went away. Not logged as an app error."""


class _Call(Outcome):
    """One request's start_response/write state and framing (PEP 3333 "start_response()").

    It is also the request's :class:`Outcome`: ``status`` is "" until start_response() gives one
    (the status that went out, or would have), ``body_bytes`` counts the body bytes sent.
    """

    __slots__ = (
        "app_date",
        "app_server",
        "cgi",
        "chunked",
        "close_after",
        "headers",
        "headers_sent",
        "http10",
        "inferred",
        "last",
        "length",
        "no_body",
        "server",
        "sink",
        "wrote",
    )

    def __init__(
        self, sink: ResponseSink, keep_alive: bool, no_body: bool, cgi: bool, http10: bool
    ) -> None:
        self.sink = sink
        self.keep_alive = keep_alive
        self.aborted = False
        self.no_body = no_body
        self.cgi = cgi
        self.http10 = http10
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.headers_sent = False
        self.chunked = False
        self.close_after = False
        self.length: int | None = None  # Content-Length, given or inferred
        self.inferred: int | None = None  # the body's length when the engine knows it up front
        self.app_date = self.app_server = False
        self.body_bytes = 0
        self.wrote = False
        self.server: str | None = None  # the Server field line, CRLF included
        self.last: Callable[..., None] = getattr(sink, "send_last", None) or sink.send

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        if exc_info is not None and exc_info[0] is not None:
            try:
                if self.headers_sent:  # PEP 3333: too late to change the response, re-raise
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status:
            raise AssertionError("PEP 3333: start_response() called a second time without exc_info")
        check_status(status)
        self.length, self.app_date, self.app_server = check_headers(headers)
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy write() callable: sent before it returns (PEP 3333)."""
        if not self.status:
            raise AssertionError("PEP 3333: write() called before start_response()")
        if type(data) is not bytes:
            raise TypeError(f"PEP 3333: write() takes bytes, got {type(data).__name__}")
        self.wrote = True
        if data:
            self.send_body(data)

    def head(self) -> bytes:
        """Decide the framing (RFC 9112 §6) and serialise the head."""
        status = self.status
        headers = self.headers
        code = int(status[:3])
        if code < 200 or code == 204:
            # RFC 9110 §15.2, §15.3.5: no content, and never a Content-Length (§8.6).
            self.no_body = True
            self.length = 0
            headers = [(n, v) for n, v in headers if n.lower() != "content-length"]
        elif code == 304:
            self.no_body = True  # RFC 9110 §15.4.5; a given Content-Length describes the 200
        elif self.length is None and self.inferred is not None:
            self.length = self.inferred
            headers = [*headers, ("Content-Length", str(self.inferred))]
        elif self.length is None and not self.no_body and not self.cgi:
            if self.http10:
                self.close_after = True  # HTTP/1.0: the end of the body is the close
            else:
                self.chunked = True
                headers = [*headers, ("Transfer-Encoding", "chunked")]
        if self.cgi:
            lines = [f"{n}: {v}\r\n" for n, v in headers]
            return ("Status: %s\r\n%s\r\n" % (status, "".join(lines))).encode("latin-1")
        extra = ""
        if self.close_after or not self.keep_alive:
            self.keep_alive = False
            extra = "Connection: close\r\n"
        elif self.http10:
            extra = "Connection: keep-alive\r\n"
        if not self.app_date:
            extra += _date_header()
        if self.server is not None and not self.app_server:
            extra += self.server
        return format_response_head(status, headers, extra)

    def send_body(self, data: bytes, last: bool = False) -> None:
        """Send a non-empty chunk, with the head if it is the first; ``last``: nothing follows."""
        parts: list[bytes] = []
        if not self.headers_sent:
            parts.append(self.head())
            self.headers_sent = True
        if not self.no_body:
            length = self.length
            if length is not None:
                room = length - self.body_bytes
                if len(data) > room:
                    error_log.error(
                        "app sent more than Content-Length %d; response cut there", length
                    )
                    self.keep_alive = False
                    data = data[:room]
                    self.close_after = True
            if data:
                self.body_bytes += len(data)
                if self.chunked:
                    parts += (b"%x\r\n" % len(data), data, b"\r\n")
                elif parts and len(data) <= _JOIN_LIMIT:
                    parts[0] += data  # head and a small body: one plain send, no gather
                else:
                    parts.append(data)
        if parts:
            self._send(parts, last)

    def _send(self, parts: Sequence[bytes], last: bool = False) -> None:
        try:
            if last:
                self.last(*parts)
            else:
                self.sink.send(*parts)
        except OSError as exc:
            raise _ClientGone from exc

    def finish(self) -> None:
        if not self.headers_sent:
            if not self.status:
                raise AssertionError("PEP 3333: the app returned without calling start_response()")
            self.headers_sent = True
            parts = [self.head()]
            if self.chunked:
                parts.append(b"0\r\n\r\n")
            self._send(parts, last=True)
        elif self.chunked:
            self._send((b"0\r\n\r\n",), last=True)
        if self.length is not None and self.body_bytes < self.length and not self.no_body:
            # RFC 9112 §6.3: the client would wait for the rest; closing is the only honest end.
            error_log.error(
                "app sent %d bytes but Content-Length said %d; closing the connection",
                self.body_bytes,
                self.length,
            )
            self.keep_alive = False
            self.aborted = True


def _sendfile(call: _Call, wrapper: FileWrapper) -> bool:
    """Send a file_wrapper body with the sink's sendfile; False when that is not possible."""
    sendfile = getattr(call.sink, "sendfile", None)
    filelike = wrapper.filelike
    if sendfile is None or call.chunked or not hasattr(filelike, "fileno"):
        return False
    try:
        fd = filelike.fileno()
        offset = filelike.tell()
        size = os.fstat(fd).st_size - offset
    except (OSError, ValueError):
        return False
    count = size if call.length is None else min(size, call.length)
    call.inferred = count
    head = call.head()
    call.headers_sent = True
    call._send((head,))
    if call.no_body or count <= 0:
        return True
    try:
        sent = sendfile(filelike, offset, count)
    except OSError as exc:
        raise _ClientGone from exc
    call.body_bytes += sent
    return True


def _error_response(call: _Call, status: int = 500) -> None:
    """A plain error response when nothing was sent yet; the connection closes after it."""
    reason = HTTPStatus(status).phrase
    body = f"{reason}\n".encode()
    call.status = f"{status} {reason}"
    call.headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]
    call.length = len(body)
    call.chunked = False
    call.body_bytes = 0
    call.keep_alive = False
    call.send_body(body)


def run_app(
    app: WSGIApplication,
    environ: WSGIEnvironment,
    sink: ResponseSink,
    *,
    method: str,
    version: tuple[int, int] | None,
    keep_alive: bool,
    server_header: str | None = "wsgikit",
) -> Outcome:
    """Call ``app`` and send its response to ``sink``; never raises for app errors or a gone client.

    Only :class:`ServerExit` goes through (after the iterable is closed).

    ``version`` None means a CGI-style response (``Status:`` line, no framing or connection
    headers): the FastCGI, SCGI and CGI gateways. The app's iterable is always closed.
    """
    call = _Call(sink, keep_alive, method == "HEAD", version is None, version == (1, 0))
    if server_header is not None:
        call.server = _server_lines.get(server_header) or _server_line(server_header)
    result: Iterable[bytes] | None = None
    try:
        result = app(environ, call.start_response)
        if type(result) is FileWrapper and call.status and _sendfile(call, result):
            call.finish()
        elif (
            (type(result) is list or type(result) is tuple) and not call.wrote and len(result) <= 1
        ):
            # A one-element body: Content-Length is known, head and body go out in one send.
            body = result[0] if result else b""
            if type(body) is not bytes:
                raise TypeError(f"PEP 3333: the app yielded {type(body).__name__}, not bytes")
            if not call.headers_sent:
                call.inferred = len(body)
            if body:
                call.send_body(body, last=True)  # the whole body: finish() adds nothing
            call.finish()
        else:
            for data in result:
                if type(data) is not bytes:
                    raise TypeError(f"PEP 3333: the app yielded {type(data).__name__}, not bytes")
                if data:
                    call.send_body(data)
                    if (
                        call.close_after
                        and call.length is not None
                        and call.body_bytes >= call.length
                    ):
                        break  # cut at Content-Length: stop pulling more from the app
            call.finish()
    except _ClientGone:
        error_log.debug("client went away during %s %s", method, environ.get("PATH_INFO"))
        call.aborted = True
        call.keep_alive = False
    except ClientError as exc:
        error_log.info("bad request body (%s %s): %s", method, environ.get("PATH_INFO"), exc)
        call.keep_alive = False
        if call.headers_sent:
            call.aborted = True
        else:
            try:
                _error_response(call, exc.status)
            except _ClientGone:
                call.aborted = True
    except ServerExit:
        call.aborted = True  # the server's own: it closes the connection
        call.keep_alive = False
        raise
    except BaseException:  # SystemExit and the like too: the app's failure (module docstring)
        error_log.exception(
            "error in app %r handling %s %s",
            app,
            method,
            environ.get("REQUEST_URI") or environ.get("PATH_INFO", ""),
        )
        if call.headers_sent:
            call.aborted = True  # PEP 3333: the status is out; all we can do is cut the response
            call.keep_alive = False
        else:
            try:
                _error_response(call)
            except _ClientGone:
                call.aborted = True
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            try:
                close()
            except ServerExit:
                raise
            except BaseException:
                error_log.exception("error closing the app's iterable (%r)", result)
                if not call.headers_sent:
                    call.keep_alive = False
    return call
