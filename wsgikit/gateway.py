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
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from wsgikit._wsgi_rules import check_fields, check_status
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
    "date_header",
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
    (the HTTP server sends a turn's worth of responses in a row), never the earlier ones; and
    and, for ``run_app(pausable=True)``, ``room() -> bool``: False pauses the response until
    the server resumes it (its ``sendfile`` then raises BlockingIOError when the socket is full).
    """

    def send(self, *parts: bytes) -> None: ...


# -- the call ------------------------------------------------------------------------------------

_date_cache: list[Any] = [0, b""]  # the second, and its Date field line

_server_lines: dict[str, bytes] = {}
_status_lines: dict[str, bytes] = {}  # "200 OK" -> b"HTTP/1.1 200 OK\r\n"


def _server_line(value: str) -> bytes:
    line = f"Server: {value}\r\n".encode("latin-1")
    if len(_server_lines) < 16:
        _server_lines[value] = line
    return line


def _status_line(status: str) -> bytes:
    """RFC 9112 §4; the version is the highest we conform to, also towards HTTP/1.0 clients
    (RFC 9112 §2.3). Kept for the statuses apps use (a bounded few)."""
    line = f"HTTP/1.1 {status}\r\n".encode("latin-1")
    if len(_status_lines) < 256:
        _status_lines[status] = line
    return line


def date_header() -> str:
    """The Date field line (RFC 9110 §6.6.1), CRLF included."""
    return _date_line().decode("latin-1")


def _date_line() -> bytes:
    """:func:`date_header` as it goes out, formatted once a second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[1] = f"Date: {formatdate(now, usegmt=True)}\r\n".encode("latin-1")
        _date_cache[0] = now
    return _date_cache[1]  # type: ignore[no-any-return]


class Outcome:
    """What happened: for the access log and for the connection's fate.

    ``paused``: :func:`run_app` was called with ``pausable=True`` and the sink had no room left
    (:meth:`ResponseSink.room`): the rest of the response waits; the server calls
    :meth:`resume` once the client took some of it, or :meth:`abandon` when it gives up.
    """

    __slots__ = ("aborted", "body_bytes", "environ", "keep_alive", "paused", "status")

    def __init__(self, environ: WSGIEnvironment) -> None:
        self.environ = environ  # the request's
        self.status = ""
        self.body_bytes = 0
        self.keep_alive = False
        self.aborted = False  # the response is incomplete: the connection must be closed now
        self.paused = False

    @property
    def status_code(self) -> int:
        return int(self.status[:3]) if self.status else 0

    def resume(self) -> bool:
        """Send more of a paused response; True once it is done (``paused`` is then False)."""
        raise RuntimeError("nothing to resume: the response is not paused")

    def abandon(self) -> None:
        """Give up a paused response (the client is gone): the app's iterable is closed."""


class ServerExit(BaseException):
    """Raised by a server's own code through a running app: :func:`run_app` closes the app's
    iterable and lets it through, where it treats every other exception as the app's failure.

    The servers raise subclasses of it from their signal handlers (a second SIGTERM stops an
    inline server now; a Ctrl-C reaches code around ``Server.run()`` as KeyboardInterrupt).
    """


_holds: dict[type, bool] = {}  # whether a sink type has send_last(), looked up once


def _has_send_last(sink: ResponseSink) -> bool:
    found = hasattr(sink, "send_last")
    if len(_holds) < 64:
        _holds[type(sink)] = found
    return found


class _ClientGone(Exception):
    """The sink failed: the peer went away. Not logged as an app error."""


class _Call(Outcome):
    """One request's start_response/write state and framing (PEP 3333 "start_response()").

    It is also the request's :class:`Outcome`: ``status`` is "" until start_response() gives one
    (the status that went out, or would have), ``body_bytes`` counts the body bytes sent.
    """

    __slots__ = (
        "app",
        "app_date",
        "app_server",
        "cgi",
        "chunked",
        "close_after",
        "fields",
        "file",
        "headers",
        "headers_sent",
        "holds",
        "http10",
        "inferred",
        "iterator",
        "keep_check",
        "length",
        "method",
        "no_body",
        "pausable",
        "result",
        "server",
        "sink",
        "wrote",
    )

    def __init__(  # noqa: PLR0917  # one positional call per request
        self,
        app: WSGIApplication,
        environ: WSGIEnvironment,
        sink: ResponseSink,
        method: str,
        version: tuple[int, int] | None,
        keep_alive: bool,
    ) -> None:
        self.app = app
        self.environ = environ
        self.method = method
        self.sink = sink
        self.keep_alive = keep_alive
        self.aborted = False
        self.no_body = method == "HEAD"
        self.cgi = version is None
        self.http10 = version == (1, 0)
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.fields = b""  # the headers' field lines as they go out (check_fields)
        self.headers_sent = False
        self.chunked = False
        self.close_after = False
        self.length: int | None = None  # Content-Length, given or inferred
        self.inferred: int | None = None  # the body's length when the engine knows it up front
        self.app_date = self.app_server = False
        self.body_bytes = 0
        self.wrote = False
        self.server: bytes | None = None  # the Server field line, CRLF included
        holds = _holds.get(type(sink))
        self.holds = _has_send_last(sink) if holds is None else holds  # has send_last()
        self.keep_check: Callable[[], bool] | None = None  # see run_app()
        self.pausable = False
        self.paused = False
        self.result: Iterable[bytes] | None = None
        self.iterator: Iterator[bytes] | None = None  # a body being pumped
        self.file: list[Any] | None = None  # a file being sent: [filelike, offset, bytes left]

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
        self.length, self.app_date, self.app_server, self.fields = check_fields(headers)
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
        fields = self.fields
        code = int(status[:3])
        if code < 200 or code == 204:
            # RFC 9110 §15.2, §15.3.5: no content, and never a Content-Length (§8.6).
            self.no_body = True
            self.length = 0
            kept = [(n, v) for n, v in self.headers if n.lower() != "content-length"]
            fields = check_fields(kept)[3]
        elif code == 304:
            self.no_body = True  # RFC 9110 §15.4.5; a given Content-Length describes the 200
        elif self.length is None and self.inferred is not None:
            self.length = self.inferred
            fields += b"Content-Length: %d\r\n" % self.inferred
        elif self.length is None and not self.no_body and not self.cgi:
            if self.http10:
                self.close_after = True  # HTTP/1.0: the end of the body is the close
            else:
                self.chunked = True
                fields += b"Transfer-Encoding: chunked\r\n"
        if self.cgi:
            return b"Status: %s\r\n%s\r\n" % (status.encode("latin-1"), fields)
        parts = [_status_lines.get(status) or _status_line(status), fields]
        if self.keep_alive and self.keep_check is not None and not self.keep_check():
            self.keep_alive = False
        if self.close_after or not self.keep_alive:
            self.keep_alive = False
            parts.append(b"Connection: close\r\n")
        elif self.http10:
            parts.append(b"Connection: keep-alive\r\n")
        if not self.app_date:
            parts.append(_date_line())
        if self.server is not None and not self.app_server:
            parts.append(self.server)
        parts.append(b"\r\n")
        return b"".join(parts)

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
                (self.sink.send_last if self.holds else self.sink.send)(*parts)  # type: ignore[attr-defined]
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

    # -- the steps: calling the app, then sending its body (paused and resumed when pausable) --

    def begin(self) -> bool:
        """Call the app and send its response; False: paused (the body is not all out)."""
        result = self.result = self.app(self.environ, self.start_response)
        if type(result) is FileWrapper and self.status and _sendfile(self, result):
            return self.pump_file()
        if (type(result) is list or type(result) is tuple) and not self.wrote and len(result) <= 1:
            # A one-element body: Content-Length is known, head and body go out in one send.
            body = result[0] if result else b""
            if type(body) is not bytes:
                raise TypeError(f"PEP 3333: the app yielded {type(body).__name__}, not bytes")
            if not self.headers_sent:
                self.inferred = len(body)
            if body:
                self.send_body(body, last=True)  # the whole body: finish() adds nothing
            self.finish()
            return True
        self.iterator = iter(result)
        return self.pump()

    def pump(self) -> bool:
        """Send what the app's iterable gives, until it ends or the sink has no room."""
        room = self.sink.room if self.pausable else None  # type: ignore[attr-defined]
        for data in self.iterator:  # type: ignore[union-attr]
            if type(data) is not bytes:
                raise TypeError(f"PEP 3333: the app yielded {type(data).__name__}, not bytes")
            if data:
                self.send_body(data)
                if self.close_after and self.length is not None and self.body_bytes >= self.length:
                    break  # cut at Content-Length: stop pulling more from the app
                if room is not None and not room():
                    return False
        self.finish()
        return True

    def pump_file(self) -> bool:
        """Send the file with the sink's sendfile; a pausable sink raises BlockingIOError."""
        file = self.file
        sendfile = self.sink.sendfile  # type: ignore[attr-defined]
        while file is not None and file[2] > 0:
            try:
                sent = sendfile(file[0], file[1], file[2])
            except BlockingIOError:
                if not self.pausable:
                    raise _ClientGone from None
                return False
            except OSError as exc:
                raise _ClientGone from exc
            if not sent:
                break  # the file is shorter than it was: finish() sees the shortfall
            self.body_bytes += sent
            file[1] += sent
            file[2] -= sent
        self.file = None
        self.finish()
        return True

    def resume(self) -> bool:
        if not self.paused:
            raise RuntimeError("nothing to resume: the response is not paused")
        self.guarded(self.pump_file if self.file is not None else self.pump)
        return not self.paused

    def abandon(self) -> None:
        if self.paused:
            self.paused = False
            self.aborted = True
            self.keep_alive = False
            self.close_result()

    def guarded(self, step: Callable[[], bool] | None) -> None:
        """Run a step (None: :meth:`begin`); what the app or the client did wrong ends the
        response, never us."""
        done = True
        try:
            done = self.begin() if step is None else step()
        except _ClientGone:
            error_log.debug("client went away during %s %s", self.method, self._where())
            self.aborted = True
            self.keep_alive = False
        except ClientError as exc:
            error_log.info("bad request body (%s %s): %s", self.method, self._where(), exc)
            self.keep_alive = False
            if self.headers_sent:
                self.aborted = True
            else:
                try:
                    _error_response(self, exc.status)
                except _ClientGone:
                    self.aborted = True
        except ServerExit:
            self.aborted = True  # the server's own: it closes the connection
            self.keep_alive = False
            raise
        except BaseException:  # SystemExit and the like too: the app's failure (module docstring)
            error_log.exception(
                "error in app %r handling %s %s", self.app, self.method, self._where(uri=True)
            )
            if self.headers_sent:
                self.aborted = True  # PEP 3333: the status is out; all we can do is cut it short
                self.keep_alive = False
            else:
                try:
                    _error_response(self)
                except _ClientGone:
                    self.aborted = True
        finally:
            self.paused = not done
            if done:
                self.close_result()

    def close_result(self) -> None:
        """PEP 3333: close() the app's iterable, once, whatever happened."""
        result, self.result = self.result, None
        self.iterator = None
        close = getattr(result, "close", None)
        if close is None:
            return
        try:
            close()
        except ServerExit:
            raise
        except BaseException:
            error_log.exception("error closing the app's iterable (%r)", result)
            if not self.headers_sent:
                self.keep_alive = False

    def _where(self, uri: bool = False) -> str:
        environ = self.environ
        path: str = environ.get("PATH_INFO", "")
        return (environ.get("REQUEST_URI") or path) if uri else path


def _sendfile(call: _Call, wrapper: FileWrapper) -> bool:
    """Start a file_wrapper body with the sink's sendfile; False when that is not possible."""
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
    if not call.no_body and count > 0:
        call.file = [filelike, offset, count]
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
    call.fields = check_fields(call.headers)[3]
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
    pausable: bool = False,
    keep_check: Callable[[], bool] | None = None,
) -> Outcome:
    """Call ``app`` and send its response to ``sink``; never raises for app errors or a gone client.

    Only :class:`ServerExit` goes through (after the iterable is closed).

    ``version`` None means a CGI-style response (``Status:`` line, no framing or connection
    headers): the FastCGI, SCGI and CGI gateways. The app's iterable is always closed, when the
    response is done. ``pausable``: when the sink's ``room()`` says no, return a ``paused``
    outcome rather than wait (a server that serves many clients on one thread resumes it later).
    ``keep_check``: asked as a kept-alive response's head is made; False adds ``Connection:
    close`` (the server's reason: the request's body is still arriving, and too much is left).
    """
    call = _Call(app, environ, sink, method, version, keep_alive)
    if server_header is not None:
        call.server = _server_lines.get(server_header) or _server_line(server_header)
    call.pausable = pausable
    call.keep_check = keep_check
    call.guarded(None)
    return call
