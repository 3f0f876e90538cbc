"""CGI in both directions: run a WSGI app as a CGI script, and a CGI script as a WSGI app.

Use :func:`run` in a script that a web server (Apache mod_cgi, lighttpd, IIS) executes for each
request, or the ``wsgikit cgi SPEC`` command; use :class:`CGIApplication` to mount a CGI program
in a WSGI stack, as paste.cgiapp does (its process plumbing is :mod:`wsgikit.servers._cgiapp`)::

    #!/srv/venv/bin/python
    from wsgikit.servers.cgi import run
    from myapp import app
    run(app)

    legacy = CGIApplication("/usr/lib/cgi-bin/report.py", env={"DB": "/srv/r.db"}, timeout=60)
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import IO

from wsgikit._version import __version__
from wsgikit.gateway import (
    BodyReader,
    ConnectionInfo,
    InputStream,
    environ_from_cgi,
    error_log,
    run_app,
)
from wsgikit.servers._body import Body, BodyMemory
from wsgikit.servers._cgiapp import (
    CHUNK,
    BadHead,
    CGIError,
    Child,
    Response,
    Timeout,
    parse_head,
    read_head,
)
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["CGIApplication", "CGIError", "run"]

_SPOOL_IN_MEMORY = 1 << 20
_digits = re.compile(r"[0-9]+").fullmatch
_FAILED = (
    b"Status: 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 22\r\n\r\nInternal Server Error\n"
)
# RFC 3875 §4.1: the request meta-variables a WSGI environ carries under the same names.
_FROM_ENVIRON = (
    "AUTH_TYPE",
    "CONTENT_TYPE",
    "PATH_INFO",
    "PATH_TRANSLATED",
    "QUERY_STRING",
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "REMOTE_IDENT",
    "REMOTE_PORT",
    "REMOTE_USER",
    "REQUEST_METHOD",
    "REQUEST_URI",
    "SCRIPT_NAME",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
)


class CGIApplication:
    """A WSGI app that answers each request by running ``script`` (RFC 3875).

    ``env``: extra variables for every run (PATH, DOCUMENT_ROOT, the script's own settings);
    the request's meta-variables take precedence. Nothing else of this process's environment is
    passed on but PATH. ``timeout``: seconds the script may stay silent (no output, no body read)
    before it is killed, as Apache's CGIScriptTimeout: before its headers that answers 504, after
    them the iterable raises :class:`CGIError`. ``cwd``: defaults to the script's directory
    (RFC 3875 §7.2). Closing the response iterable (the client left) kills a running script.

    Answers of its own: 400 for a bad CONTENT_LENGTH, 500 when the script cannot be started, 502
    for a malformed header block or a script that ends before it (each with a line in
    ``wsgi.errors``). A local redirect (``Location: /path`` without ``Status``, RFC 3875 §6.2.2)
    is answered with ``302 Found`` to that path: this app is one leaf of a WSGI stack and cannot
    produce another app's response, so the client fetches it. A script's answer without
    Content-Type gets ``application/octet-stream`` (what RFC 9110 §8.3 lets a client assume);
    hop-by-hop headers are dropped (PEP 3333), and ``Transfer-Encoding`` is a 502. The query is
    never passed as argv (RFC 3875 §4.4 allows that; it was CVE-2012-1823's door).

    Raises TypeError or ValueError for bad arguments.
    """

    __slots__ = ("cwd", "env", "script", "timeout")

    def __init__(
        self,
        script: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 30,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(script, str | os.PathLike):
            raise TypeError(f"CGIApplication: script must be a path, got {script!r}")
        path = os.path.abspath(os.fspath(script))
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise ValueError(f"CGIApplication: {path!r} is not an executable file")
        if type(timeout) not in (int, float):
            raise TypeError(f"CGIApplication: timeout must be a number, got {timeout!r}")
        if not timeout > 0:
            raise ValueError(f"CGIApplication: timeout must be > 0, got {timeout!r}")
        base = {"PATH": os.environ.get("PATH", os.defpath)}
        if env is not None:
            if not isinstance(env, Mapping):
                raise TypeError(f"CGIApplication: env must be a mapping of str, got {env!r}")
            for name, value in env.items():
                if not isinstance(name, str) or not isinstance(value, str):
                    raise TypeError(f"CGIApplication: env items must be str, got {name!r}")
                if not name or "=" in name or "\0" in name + value:
                    raise ValueError(f"CGIApplication: bad environment variable {name!r}")
            base.update(env)
        if cwd is not None and not isinstance(cwd, str | os.PathLike):
            raise TypeError(f"CGIApplication: cwd must be a path, got {cwd!r}")
        workdir = os.path.dirname(path) if cwd is None else os.fspath(cwd)
        if not isinstance(workdir, str) or not os.path.isdir(workdir):
            raise ValueError(f"CGIApplication: cwd {workdir!r} is not a directory")
        self.script = path
        self.env = base
        self.timeout = float(timeout)
        self.cwd = workdir

    def __repr__(self) -> str:
        return f"CGIApplication({self.script!r})"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        errors = environ["wsgi.errors"]

        def log(message: str) -> None:
            errors.write(f"wsgikit.cgi: {self.script}: {message}\n")

        try:
            body, length = _request_body(environ)
        except ValueError as exc:
            log(str(exc))
            return _answer(start_response, 400)
        env = {os.fsencode(k): os.fsencode(v) for k, v in self.env.items()}
        env.update(_meta_variables(environ, self.script, length))
        try:
            child = Child(
                [self.script],
                cwd=self.cwd,
                env=env,
                body=body,
                length=length or 0,
                errors=errors,
                timeout=self.timeout,
            )
        except OSError as exc:
            if body is not None and body is not environ["wsgi.input"]:
                body.close()
            log(f"cannot start: {exc}")
            return _answer(start_response, 500)
        try:
            head, rest = read_head(child)
            status, headers, local = parse_head(head)
        except Timeout:
            child.close()
            log(f"no headers after {self.timeout:g}s: killed")
            return _answer(start_response, 504)
        except BadHead as exc:
            child.close(finished=child.ended())  # an ended script gets to report its status
            log(f"{exc}{child.describe_exit()}")
            return _answer(start_response, 502)
        except BaseException:
            child.close()
            raise
        if local is not None:
            child.close()
            return _answer(start_response, 302, [("Location", local)])
        try:
            start_response(status, headers)
        except BaseException:
            child.close()
            raise
        return Response(child, rest, log)


def _answer(
    start_response: StartResponse, code: int, extra: Iterable[tuple[str, str]] = ()
) -> list[bytes]:
    reason = HTTPStatus(code).phrase
    body = f"{reason}\n".encode()
    start_response(
        f"{code} {reason}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *extra],
    )
    return [body]


def _request_body(environ: WSGIEnvironment) -> tuple[IO[bytes] | None, int | None]:
    """The body to pipe and its length. RFC 3875 §4.2: CONTENT_LENGTH is the body's exact
    length, so a body without one (chunked, ``wsgi.input_terminated``) is spooled first."""
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    stream: IO[bytes] = environ["wsgi.input"]
    if raw:
        if not _digits(raw):
            raise ValueError(f"bad CONTENT_LENGTH {raw[:40]!r}")
        return (stream if int(raw) else None), int(raw)
    if not environ.get("wsgi.input_terminated"):
        return None, None  # RFC 3875 §4.1.2: no CONTENT_LENGTH, no body
    data = stream.read(CHUNK)
    if not data:
        return None, None
    spool = tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY)  # noqa: SIM115 (owned by the child)
    while data:
        spool.write(data)
        data = stream.read(CHUNK)
    length = spool.tell()
    spool.seek(0)
    return spool, length


def _meta_variables(
    environ: WSGIEnvironment, script: str, length: int | None
) -> dict[bytes, bytes]:
    """RFC 3875 §4.1 meta-variables, latin-1 bytes as PEP 3333 decoded them."""
    meta: dict[str, str] = {}
    for name in _FROM_ENVIRON:
        value = environ.get(name)
        if isinstance(value, str):
            meta[name] = value
    for name, value in environ.items():
        # httpoxy (CVE-2016-5385): HTTP_PROXY is the client's Proxy header, which scripts and
        # their libraries would take for proxy configuration.
        if name.startswith("HTTP_") and name != "HTTP_PROXY" and isinstance(value, str):
            meta[name] = value
    meta.setdefault("QUERY_STRING", "")  # §4.1.7: always set, empty when there is none
    meta.setdefault("SCRIPT_NAME", "")
    if "REMOTE_ADDR" in meta and not meta.get("REMOTE_HOST"):
        meta["REMOTE_HOST"] = meta["REMOTE_ADDR"]  # §4.1.9: the address when no name is known
    meta.pop("CONTENT_LENGTH", None)
    if length is not None:
        meta["CONTENT_LENGTH"] = str(length)
    scheme = environ.get("wsgi.url_scheme", "http")
    meta["REQUEST_SCHEME"] = scheme
    if scheme == "https":
        meta["HTTPS"] = "on"
    meta["GATEWAY_INTERFACE"] = "CGI/1.1"
    meta["SERVER_SOFTWARE"] = f"wsgikit/{__version__}"
    meta["SCRIPT_FILENAME"] = script
    encoded = {}
    for name, value in meta.items():
        try:
            pair = name.encode("latin-1"), value.encode("latin-1")
        except UnicodeEncodeError:
            continue  # not PEP 3333 "bytes as str": the server's bug; leave the variable out
        if b"\0" not in pair[0] + pair[1] and b"=" not in pair[0]:
            encoded[pair[0]] = pair[1]
    return encoded


def run(app: WSGIApplication) -> None:
    """Answer this process's one CGI request (RFC 3875) with ``app``; never raises for app errors.

    The environ is the process environment decoded as latin-1 (PEP 3333; ``os.environb`` on
    POSIX, so the locale never mangles a path), minus ``HTTP_PROXY``, which is also removed from
    ``os.environ`` so that the app's HTTP libraries do not take the client's ``Proxy:`` header
    for their proxy (httpoxy, CVE-2016-5385). ``wsgi.input`` is stdin cut at CONTENT_LENGTH
    (RFC 3875 §4.2); the response goes to binary stdout with a ``Status:`` line (§6.3.3), each
    piece flushed as the app yields it. While the app runs, ``sys.stdout`` is ``sys.stderr``: a
    stray print() lands in the server's error log instead of corrupting the response. An
    exception gives a 500 and its traceback on stderr (logger ``wsgikit.error``; a stderr
    handler is added for the call when logging is not configured), never in the response.
    """
    stdout = sys.stdout
    stdout.flush()
    sink = _Sink(stdout.buffer)
    handler: logging.Handler | None = None
    if not error_log.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
        error_log.addHandler(handler)
    sys.stdout = sys.stderr
    try:
        _serve(app, sink)
    except Exception:  # wsgikit's own failure: still a 500 and a traceback, never a crash
        error_log.exception("wsgikit CGI gateway failed")
        if not sink.sent:
            with contextlib.suppress(OSError):  # the web server is gone too
                sink.send(_FAILED)
    finally:
        sys.stdout = stdout
        if handler is not None:
            error_log.removeHandler(handler)


def _serve(app: WSGIApplication, sink: _Sink) -> None:
    os.environ.pop("HTTP_PROXY", None)
    if os.supports_bytes_environ:
        params = list(os.environb.items())
    else:  # Windows: the environment is text already; IIS hands over UTF-8
        params = [(k.encode(), v.encode("utf-8", "surrogateescape")) for k, v in os.environ.items()]
    variables = dict(params)
    raw_length = variables.get(b"CONTENT_LENGTH", b"").strip()
    length = int(raw_length) if raw_length.isdigit() else 0
    if raw_length and not raw_length.isdigit():
        error_log.error("bad CONTENT_LENGTH %r from the web server", raw_length[:40])
        app = _bad_request
    stdin = sys.stdin.buffer if sys.stdin is not None else None
    reader: BodyReader = _StdinReader(stdin)
    if not raw_length and b"chunked" in variables.get(b"HTTP_TRANSFER_ENCODING", b"").lower():
        # Apache's mod_cgi passes a chunked body decoded, to the end of stdin, without a length
        # (RFC 3875 §4.1.2 has none to give): read it all, so that the app gets CONTENT_LENGTH
        # (Django, WebOb read exactly that many bytes, and nothing without it).
        body = _read_to_end(reader)
        reader, length = body, body.size
        params.append((b"CONTENT_LENGTH", str(length).encode()))
    conn = ConnectionInfo(
        server_name="localhost",
        server_port=80,
        multithread=False,
        multiprocess=True,  # PEP 3333: each request may run in another process
        errors=sys.stderr,
    )
    environ = environ_from_cgi(params, conn, InputStream(reader, length))
    environ["wsgi.run_once"] = True
    run_app(
        app,
        environ,
        sink,
        method=environ.get("REQUEST_METHOD", "GET"),
        version=None,  # a CGI response: Status line, no framing (RFC 3875 §6)
        keep_alive=False,
    )


class _Sink:
    """stdout for the gateway engine: every piece written and flushed at once."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.sent = False

    def send(self, *parts: bytes) -> None:
        self.sent = True
        for part in parts:
            self._out.write(part)
        self._out.flush()


class _StdinReader:
    """The request body from stdin: ``read(n)`` gives what is there, up to n bytes."""

    def __init__(self, stdin: IO[bytes] | None) -> None:
        self._stdin = stdin

    def read(self, size: int, /) -> bytes:
        if self._stdin is None:
            return b""
        read1 = getattr(self._stdin, "read1", None)
        return read1(size) if read1 is not None else self._stdin.read(size)


def _read_to_end(reader: BodyReader) -> Body:
    """All of a body that ends with its stream: in memory while small, then in a file."""
    body = Body(BodyMemory(_SPOOL_IN_MEMORY))
    while data := reader.read(CHUNK):
        body.append(data)
    body.end()
    return body


def _bad_request(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", "12")])
    return [b"Bad Request\n"]
