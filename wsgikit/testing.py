"""Helpers for testing WSGI apps and middleware: environs, a strict in-process server, the
conformance zoo every middleware must pass, and a real HTTP server in a thread.

Use them in your own tests::

    from wsgikit.testing import call_app, check_middleware, make_environ, serve_in_thread

    result = call_app(app, "/hello", method="POST", body=b"x=1")
    assert result.status_code == 200 and result.header("content-type") == "text/plain"
    check_middleware(GzipMiddleware, min_size=0)   # AssertionError naming the rule and the case
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from wsgiref.util import FileWrapper
from wsgiref.validate import WSGIWarning, validator

from wsgikit._environ import InputStream
from wsgikit._wsgi_rules import is_token
from wsgikit._zoo import ZOO, Case, Probe, ZooError
from wsgikit.lint import LintError, LintMiddleware, _check_headers, _check_status, _raise
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Result", "call_app", "check_middleware", "make_environ", "serve_in_thread"]

_APP = "PEP 3333 (The Application/Framework Side)"
_START = "PEP 3333 (The start_response() Callable)"


def _header_items(headers: Any) -> list[tuple[str, str]]:
    items = list(headers.items() if isinstance(headers, Mapping) else headers)
    for item in items:
        if type(item) is not tuple or len(item) != 2:
            raise TypeError(f"headers must be (name, value) pairs, got {item!r}")
        name, value = item
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be str, got {item!r}")
        if not is_token(name):
            raise ValueError(f"RFC 9110 §5.1: header name {name!r} is not a token")
        if re.search(r"[\r\n\x00]|[^\x00-\xff]", value):
            raise ValueError(f"header {name} value has CR, LF, NUL or non-latin-1: {value!r}")
    return items


# How a socket hands a body out: small uneven pieces, some crossing the 64 KiB mark. The server's
# wsgi.input must join them (one read(CONTENT_LENGTH) gets the whole body), and middleware that
# read or wrap the body meet the piece boundaries where short-read bugs live.
_PIECES = (1, 1460, 7, 4096, 13, 65536 + 5, 100, 16384, 3, 8000)


class _Socketlike:
    """A request body given out one piece per read(n), like recv(): a gateway BodyReader."""

    def __init__(self, body: bytes) -> None:
        self._body, self._at, self._turn = body, 0, 0

    def read(self, size: int, /) -> bytes:
        piece = _PIECES[self._turn % len(_PIECES)]
        self._turn += 1
        start = self._at
        self._at = min(start + size, start + piece, len(self._body))
        return self._body[start : self._at]


def make_environ(
    path: str = "/",
    *,
    method: str = "GET",
    query: str = "",
    body: bytes = b"",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    scheme: str = "http",
    chunked: bool = False,
    **environ: Any,
) -> dict[str, Any]:
    """A complete PEP 3333 environ for one request, as a server would build it.

    ``path`` becomes PATH_INFO (a ``?query`` part in it becomes QUERY_STRING); ``headers`` become
    ``HTTP_*`` keys (Content-Type/Content-Length become CONTENT_TYPE/CONTENT_LENGTH; repeated
    headers are joined with ", "). ``wsgi.input`` is a server's stream over ``body`` arriving in
    small uneven pieces, as from a socket; ``chunked=True`` sends it as a chunked request: no
    CONTENT_LENGTH, the stream ends itself (``wsgi.input_terminated``). ``**environ`` keys are set
    verbatim and win, unchecked, so tests can build broken environs too. Raises
    TypeError/ValueError for bad arguments.
    """
    if not isinstance(path, str) or not isinstance(query, str) or not isinstance(method, str):
        raise TypeError("path, query and method must be str")
    if "?" in path:
        if query:
            raise ValueError("give the query string in path or in query=, not both")
        path, _, query = path.partition("?")
    if path and not path.startswith("/"):
        raise ValueError(f"PEP 3333: PATH_INFO must be empty or start with '/', got {path!r}")
    if not is_token(method):
        raise ValueError(f"RFC 9110 §9.1: the method must be a token, got {method!r}")
    if scheme not in ("http", "https"):
        raise ValueError(f"scheme must be 'http' or 'https', got {scheme!r}")
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(f"body must be bytes, got {type(body).__name__}")
    if type(chunked) is not bool:
        raise TypeError(f"chunked must be True or False, got {chunked!r}")
    for text in (path, query):
        try:
            text.encode("latin-1")  # PEP 3333 (Unicode Issues): bytes decoded as latin-1
        except UnicodeEncodeError:
            raise ValueError(f"PEP 3333: {text!r} must be bytes decoded as latin-1") from None
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443" if scheme == "https" else "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": InputStream(_Socketlike(bytes(body)), None if chunked else len(body)),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
    }
    if body:
        env["CONTENT_TYPE"] = "application/octet-stream"
    if body and not chunked:
        env["CONTENT_LENGTH"] = str(len(body))
    seen: set[str] = set()
    for name, value in _header_items(headers or ()):
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        if key in seen:  # RFC 9110 §5.3 (RFC 6265 §5.4 joins cookies with "; ")
            env[key] += ("; " if key == "HTTP_COOKIE" else ", ") + value
        else:
            env[key] = value
        seen.add(key)
    if chunked and "CONTENT_LENGTH" in env:  # RFC 9112 §6.3: chunked framing has no length
        raise ValueError("a chunked body has no Content-Length header")
    env.update(environ)
    return env


@dataclass(frozen=True)
class Result:
    """What an app answered: status, headers and the body bytes exactly as it produced them."""

    status: str
    status_code: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), in order."""
        lower = name.lower()
        return [value for key, value in self.headers if key.lower() == lower]


class _Server:
    """The server side of one call: start_response() and write() with PEP 3333's rules."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.code = 0
        self.headers: list[tuple[str, str]] = []
        self.sent = False
        self.chunks: list[bytes] = []

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if exc_info is not None:
            if self.sent:  # PEP 3333 (Error Handling): too late to change the headers: re-raise
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            _raise(_START, "start_response called a second time without exc_info")
        self.code = _check_status(status, _raise)
        _check_headers(headers, _raise)
        self.status, self.headers = status, list(headers)
        return self.write

    def write(self, data: bytes) -> None:
        if type(data) is not bytes:
            _raise("PEP 3333 (The write() Callable)", f"write() takes bytes, got {data!r}")
        self.sent = True
        self.chunks.append(data)

    def body(self, chunk: Any) -> None:
        if type(chunk) is not bytes:
            _raise("PEP 3333 (Specification Details)", f"the app yielded {chunk!r}, not bytes")
        if chunk and self.status is None:
            _raise(_START, "the app yielded body data before calling start_response")
        self.sent = self.sent or bool(chunk)
        self.chunks.append(chunk)


def call_app(app: WSGIApplication, environ: WSGIEnvironment | None = None, **kwargs: Any) -> Result:
    """Call ``app`` as a strict server would and return its :class:`Result`.

    The environ is ``environ`` or ``make_environ(**kwargs)``. start_response enforces the status,
    header and exc_info rules (:class:`~wsgikit.lint.LintError` when broken), ``close()`` is always
    called, and exceptions from the app propagate after it. The body is not stripped on HEAD.
    """
    if environ is None:
        environ = make_environ(**kwargs)
    elif kwargs:
        raise TypeError("call_app() takes an environ or make_environ() arguments, not both")
    server = _Server()
    iterable = app(environ, server.start_response)
    if iterable is None or isinstance(iterable, str | bytes | bytearray):
        _raise(_APP, f"the app must return an iterable of bytes, got {iterable!r:.60}")
    try:
        for chunk in iterable:
            server.body(chunk)
        if server.status is None:
            _raise(_START, "the app finished without calling start_response")
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return Result(server.status, server.code, server.headers, b"".join(server.chunks))


# --- the conformance check ----------------------------------------------------------------------


class _CloseWatch:
    """Between the strict server and the stack: remembers whether the stack's close() raised."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.error: BaseException | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self._result = self.app(environ, start_response)
        return self

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            getattr(self._result, "close", lambda: None)()
        except BaseException as error:
            self.error = error
            raise


def _run_case(
    factory: Callable[..., Any], options: dict[str, Any], case: Case
) -> tuple[str | None, Exception | None]:
    """Run one zoo case; return the first broken rule (or None) and what the stack raised."""
    probe = Probe()
    checked = validator if case.validate else lambda app: app
    inner = LintMiddleware(checked(lambda e, s: case.app(probe, e, s)), allow_head_body=True)
    middleware = factory(inner, **options)
    if not callable(middleware):
        return f"the factory returned {middleware!r}, not a WSGI application", None
    outer = LintMiddleware(middleware, allow_head_body=case.head_body_ok)
    watch = _CloseWatch(checked(outer))
    environ = make_environ(
        f"/zoo/{case.name}", method=case.method, body=case.body, chunked=case.chunked
    )
    result: Result | None = None
    error: Exception | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("error", WSGIWarning)  # wsgiref.validate's warnings count too
        try:
            result = call_app(watch, environ)
        except Exception as exc:
            error = exc
    dropped = probe.returned and not probe.closed
    for lint in (inner, outer):  # reports and closes what was dropped
        with contextlib.suppress(LintError):
            lint.check_closed()
    problems = [f"{v} (between the middleware and the inner app)" for v in inner.violations]
    problems += [str(v) for v in outer.violations]
    if watch.error is not None:
        problems.append(f"the middleware's iterable raised from close(): {watch.error!r}")
    if dropped:
        problems.append(
            "PEP 3333 (Specification Details): close() never reached the app's iterable"
        )
    if probe.got is not None and probe.got != case.body:
        problems.append(_body_changed(probe, case.body))
    if error is not None and not any(error is v for v in inner.violations + outer.violations):
        if isinstance(error, WSGIWarning):
            problems.append(f"wsgiref.validate warned: {error}")
        elif isinstance(error, LintError):
            problems.append(str(error))
        elif isinstance(error, AssertionError):
            problems.append(f"wsgiref.validate: {error}")
        elif not (case.raises and isinstance(error, ZooError)):
            problems.append(f"the middleware raised {error!r}")
    if result is not None:
        length = result.header("Content-Length")
        if case.method == "HEAD":
            if result.body and not case.head_body_ok:
                problems.append(
                    f"RFC 9110 §9.3.2: HEAD response has a body ({len(result.body)} bytes)"
                )
        elif (
            length
            and length.isdigit()
            and result.status_code != 304
            and int(length) != len(result.body)
        ):
            problems.append(
                f"RFC 9110 §8.6: Content-Length says {length} but {len(result.body)} body bytes"
                " were sent"
            )
    return (problems[0] if problems else None), error


def _body_changed(probe: Probe, sent: bytes) -> str:
    got = probe.got or b""
    return (
        f"the inner app's one wsgi.input.{probe.read} got {len(got)} bytes (sha256 "
        f"{hashlib.sha256(got).hexdigest()[:12]}...), not the {len(sent)} sent (sha256 "
        f"{hashlib.sha256(sent).hexdigest()[:12]}...): the middleware must pass the request "
        "body on whole"
    )


def check_middleware(factory: Callable[..., Any], **options: Any) -> None:
    """Run the middleware conformance zoo; raise AssertionError naming the first broken rule.

    For each case, ``validator(LintMiddleware(factory(LintMiddleware(validator(app)), **options)))``
    is called like a strict server would: list, generator, lazy start_response, write(), empty,
    POST (small; 100 kB read with one read(CONTENT_LENGTH); chunked, read with one read(): the app
    must get the very bytes sent, which arrive in socket-sized pieces), HEAD (the middleware must
    not add a body; one the app sent may pass through, the server drops it), 204, 304,
    wsgi.file_wrapper, and apps that fail before, during and after their body. Failing apps'
    errors may propagate or become an error response; either way close() must reach the app's
    iterable and every rule must hold.
    Errors from the factory itself (a bad option, say) propagate unchanged.
    """
    if not callable(factory):
        raise TypeError(f"check_middleware needs a middleware factory, got {factory!r}")
    for case in ZOO:
        problem, error = _run_case(factory, options, case)
        if problem is not None:
            raise AssertionError(f"check_middleware: case {case.name!r}: {problem}") from error


@contextlib.contextmanager
def serve_in_thread(app: WSGIApplication, host: str = "127.0.0.1") -> Iterator[int]:
    """Serve ``app`` with wsgikit's HTTP/1.1 server on ``host`` (IPv4 or IPv6) in a thread.

    Yields the port, bound before the thread starts; on exit the server stops and in-flight
    requests finish::

        with serve_in_thread(app) as port:
            http.client.HTTPConnection("127.0.0.1", port).request("GET", "/")
    """
    # Lazy: `import wsgikit` re-exports this module and must not load the server and its sockets.
    from wsgikit.servers.http import Server  # noqa: PLC0415

    bind = f"[{host}]:0" if ":" in host else f"{host}:0"
    server = Server(app, [bind], threads=4, shutdown_timeout=5.0)
    thread = threading.Thread(target=server.run, name="serve_in_thread", daemon=True)
    thread.start()
    try:
        yield server.addresses[0][1]
    finally:
        server.stop()
        thread.join(10)
