"""A strict PEP 3333 checker: every check of ``wsgiref.validate`` and more, as a middleware.

Put it between a server and an app (or on both sides of a middleware) while developing or testing.
Each broken rule raises :class:`LintError` (an ``AssertionError``) whose message starts with the
rule, and is also kept in ``violations`` in case the app swallowed it::

    from wsgikit.lint import LintMiddleware
    app = LintMiddleware(my_app)
    ...                    # serve some requests
    app.check_closed()     # LintError if the server dropped an iterable without close()
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn

from wsgikit._wsgi_rules import HOP_BY_HOP, is_token
from wsgikit.types import WSGIApplication, WSGIEnvironment

__all__ = ["LintError", "LintMiddleware"]

# The rule each message starts with: the PEP 3333 section, or the RFC 9110/9112 section.
_APP = "PEP 3333 (The Application/Framework Side)"
_ENVIRON = "PEP 3333 (environ Variables)"
_STREAMS = "PEP 3333 (Input and Error Streams)"
_START = "PEP 3333 (The start_response() Callable)"
_DETAILS = "PEP 3333 (Specification Details)"
_WRITE = "PEP 3333 (The write() Callable)"
_UNICODE = "PEP 3333 (Unicode Issues)"
_ERRORS = "PEP 3333 (Error Handling)"
_HOP = "PEP 3333 (Other HTTP Features)"
_VALIDATE = "wsgiref.validate"
_LENGTH = "RFC 9110 §8.6"

_REQUIRED = (
    "REQUEST_METHOD",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "wsgi.version",
    "wsgi.input",
    "wsgi.errors",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
    "wsgi.url_scheme",
)
_digits = re.compile(r"[0-9]+\Z").match
# RFC 9112 §4: status-code SP reason-phrase; PEP 3333: no surrounding whitespace.
_status = re.compile(
    r"([0-9]{3}) ([\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)\Z"
)
_header_name = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z").match  # wsgiref.validate's rule
_bad_value = re.compile(r"[\x00-\x1f\x7f]").search  # no CR, LF, NUL or other CTLs
_INPUT = ("read", "readline", "readlines", "__iter__")
_Fail = Callable[[str, str], NoReturn]


class LintError(AssertionError):
    """A broken WSGI rule; ``str(err)`` is ``"<rule>: <what happened>"``."""


def _asterisk(environ: WSGIEnvironment, key: str) -> bool:
    """``OPTIONS *`` (RFC 9112 §3.2.4) names no path: PATH_INFO "*", as gunicorn and waitress
    give it (wsgiref.validate, older than that habit, refuses it)."""
    return key == "PATH_INFO" and environ[key] == "*" and environ.get("REQUEST_METHOD") == "OPTIONS"


def _raise(rule: str, detail: str) -> NoReturn:
    raise LintError(f"{rule}: {detail}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _call(method: str, args: tuple[Any, ...]) -> str:
    """How the app called a wsgi.input method: ``read(5)``, ``readline()``."""
    return f"{method}({args[0] if args else ''})"


def _bodyless(code: int, head: bool) -> tuple[str, str] | None:
    """The rule that forbids a body here and what the response is, if one does."""
    if head:
        return "RFC 9110 §9.3.2", "HEAD response"
    if code < 200:
        return "RFC 9110 §15.2", f"{code} (1xx) response"
    if code in (204, 304):
        return f"RFC 9110 §15.{3 if code == 204 else 4}.5", f"{code} response"
    return None


def _check_environ(environ: Any, fail: _Fail) -> None:
    if type(environ) is not dict:
        fail(_ENVIRON, f"environ must be a dict (not a subclass), got {type(environ).__name__}")
    for key in _REQUIRED:
        if key not in environ:
            fail(_ENVIRON, f"environ is missing the required key {key!r}")
    for key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
        if key in environ:
            fail(_ENVIRON, f"environ must not have {key!r}: the header goes in {key[5:]!r}")
    if "QUERY_STRING" not in environ:
        fail(_VALIDATE, "QUERY_STRING must be present (empty when there is no query)")
    for key, value in environ.items():
        if type(key) is not str:
            fail(_ENVIRON, f"environ keys must be str, got {key!r}")
        if "." in key:
            continue  # an extension: its type is its own business
        if type(value) is not str:
            fail(_ENVIRON, f"CGI variable {key} must be a str, got {_short(value)}")
        if not value.isascii():
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                fail(_UNICODE, f"{key} must be bytes decoded as latin-1, got {_short(value)}")
    if environ["wsgi.version"] != (1, 0) or type(environ["wsgi.version"]) is not tuple:
        fail(_ENVIRON, f"wsgi.version must be the tuple (1, 0), got {environ['wsgi.version']!r}")
    if environ["wsgi.url_scheme"] not in ("http", "https"):
        fail(
            _ENVIRON,
            f"wsgi.url_scheme must be 'http' or 'https', got {environ['wsgi.url_scheme']!r}",
        )
    if not is_token(environ["REQUEST_METHOD"]):
        fail(_ENVIRON, f"REQUEST_METHOD must be a token, got {environ['REQUEST_METHOD']!r}")
    if not _digits(environ["SERVER_PORT"]):
        fail(_ENVIRON, f"SERVER_PORT must be digits, got {environ['SERVER_PORT']!r}")
    for flag in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once"):
        if type(environ[flag]) is not bool:
            fail(_ENVIRON, f"{flag} must be a bool, got {environ[flag]!r}")
    for key, names in (("wsgi.input", _INPUT), ("wsgi.errors", ("flush", "write", "writelines"))):
        for name in names:
            if not hasattr(environ[key], name):
                fail(_STREAMS, f"{key} ({_short(environ[key])}) has no {name}()")
    for key in ("SCRIPT_NAME", "PATH_INFO"):
        value = environ.get(key)
        if value and not value.startswith("/") and not _asterisk(environ, key):
            fail(_ENVIRON, f"{key} must be empty or start with '/', got {value!r}")
    if environ.get("CONTENT_LENGTH") and not _digits(environ["CONTENT_LENGTH"]):
        fail(_ENVIRON, f"CONTENT_LENGTH must be digits, got {environ['CONTENT_LENGTH']!r}")
    if not environ.get("SCRIPT_NAME") and "PATH_INFO" not in environ:
        fail(_ENVIRON, "one of SCRIPT_NAME or PATH_INFO is required (PATH_INFO '/' at the root)")
    if environ.get("SCRIPT_NAME") == "/":
        fail(_ENVIRON, "SCRIPT_NAME must not be '/': use '' with PATH_INFO '/'")
    if "wsgi.file_wrapper" in environ and not callable(environ["wsgi.file_wrapper"]):
        fail(_ENVIRON, f"wsgi.file_wrapper must be callable, got {environ['wsgi.file_wrapper']!r}")


def _check_status(status: Any, fail: _Fail) -> int:
    """PEP 3333: a str "NNN Reason"; return the code."""
    if type(status) is not str:
        fail(_START, f"status must be a str like '200 OK', got {_short(status)}")
    match = _status.match(status)
    if match is None:
        fail(
            _START,
            f"status must be three digits, a space and a reason, like '200 OK', got {status!r}",
        )
    code = int(match.group(1))
    if code < 100:
        fail("RFC 9112 §4", f"the status code must be 100-999, got {code}")
    return code


def _check_headers(headers: Any, fail: _Fail) -> None:
    if type(headers) is not list:
        fail(_START, f"headers must be a list (not a subclass), got {type(headers).__name__}")
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            fail(_START, f"each header must be a (name, value) tuple, got {_short(item)}")
        name, value = item
        if type(name) is not str or type(value) is not str:
            fail(_START, f"header names and values must be str, got {_short(item)}")
        if name.lower() == "status":
            fail(_VALIDATE, "no 'Status' header: that is CGI's, WSGI passes the status itself")
        if not _header_name(name) or name[-1] in "-_":
            fail("RFC 9110 §5.1", f"bad header name {name!r} (letters, digits, '-', '_')")
        if name.lower() in HOP_BY_HOP:
            fail(_HOP, f"hop-by-hop header {name!r} is the server's business")
        bad = _bad_value(value)
        if bad:
            fail("RFC 9110 §5.5", f"header {name} has the control char {bad.group()!r}: {value!r}")
        if value != value.strip(" "):
            fail("RFC 9110 §5.5", f"header {name} has surrounding whitespace: {value!r}")
        if not value.isascii():
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                fail(_UNICODE, f"header {name} must be latin-1 only, got {value!r}")


def _check_entity(code: int, headers: list[tuple[str, str]], fail: _Fail) -> int | None:
    """Content-Type (wsgiref.validate) and Content-Length rules; return the length, if any."""
    has_type = any(name.lower() == "content-type" for name, _ in headers)
    if code in (204, 304) and has_type:
        fail(_VALIDATE, f"no Content-Type in a {code} response, which has no content")
    if code not in (204, 304) and not has_type:
        fail(_VALIDATE, f"a {code} response needs a Content-Type header")
    lengths = [value for name, value in headers if name.lower() == "content-length"]
    if not lengths:
        return None
    if len(lengths) > 1:
        fail(_LENGTH, f"more than one Content-Length header: {lengths!r}")
    if not _digits(lengths[0]):
        fail(_LENGTH, f"Content-Length must be decimal digits, got {lengths[0]!r}")
    if code < 200 or code == 204:
        fail(_LENGTH, f"a {code} response must not have a Content-Length")
    return int(lengths[0])


class _Input:
    """wsgi.input as the app sees it: only the four PEP 3333 methods, each checked.

    PEP 3333 gives them a file's semantics, which apps rely on (one ``read(CONTENT_LENGTH)``
    reads a whole form): a call may return less than it was asked for only at the end of the
    body, known from CONTENT_LENGTH or, for a terminated stream, from the next read giving b"".
    """

    def __init__(self, stream: Any, fail: _Fail, limit: int | None, terminated: bool) -> None:
        self._stream, self._fail, self._left = stream, fail, limit
        # wsgi.input_terminated (the convention werkzeug, gunicorn and mod_wsgi share): the
        # stream ends itself, so read() without a size is safe and allowed.
        self._read_need = 0 if terminated else 1
        self._terminated = terminated
        self._ended: str | None = None  # the call that met the end of the body

    def _size(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], need: int) -> None:
        if kwargs or len(args) > 1 or len(args) < need:
            self._fail(
                _STREAMS,
                f"wsgi.input.{method}() takes {'one' if need else 'at most one'} "
                f"positional argument, got {len(args)} and keywords {sorted(kwargs)}",
            )
        if args and (type(args[0]) is not int):
            self._fail(_STREAMS, f"wsgi.input.{method}() size must be an int, got {args[0]!r}")

    def _got(self, method: str, data: Any, args: tuple[Any, ...]) -> bytes:
        if type(data) is not bytes:
            self._fail(_STREAMS, f"wsgi.input.{method}() must return bytes, got {_short(data)}")
        if args and args[0] >= 0 and len(data) > args[0]:
            self._fail(_STREAMS, f"wsgi.input.{method}({args[0]}) returned {len(data)} bytes")
        if data and self._ended is not None:
            self._fail(
                _STREAMS,
                f"wsgi.input.{_call(method, args)} returned {len(data)} bytes after "
                f"{self._ended} had met the end of the body",
            )
        if self._left is not None:
            self._left -= len(data)
            if self._left < 0:  # PEP 3333: the server simulates end-of-file at CONTENT_LENGTH
                self._fail(_STREAMS, "wsgi.input returned more bytes than CONTENT_LENGTH")
        return data

    def _at_end(self, call: str, got: int) -> None:
        """``call`` gave ``got`` bytes, less than asked: only the end of the body allows that."""
        if self._left and not got:  # the stream is at its end, CONTENT_LENGTH is not
            self._fail(
                _STREAMS,
                f"wsgi.input.{call} returned b'' with {self._left} bytes of CONTENT_LENGTH left: "
                "was the body read before (by a middleware) without passing on a fresh "
                "wsgi.input and CONTENT_LENGTH?",
            )
        if self._left:  # PEP 3333: a file's read blocks for the rest, it does not return early
            self._fail(
                _STREAMS,
                f"wsgi.input.{call} returned {got} bytes with {self._left} bytes of "
                "CONTENT_LENGTH left: a read must wait for all it asked for (apps read a "
                "body with one read(CONTENT_LENGTH))",
            )
        if self._left is None:
            if not self._terminated:
                return  # no length, not terminated: no body (PEP 3333), nothing to tell
            # The stream says where the body ends: the next read must give b"" (a correct
            # server's does at once; a short-reading one gives the bytes it held back).
            if self._ended is None and self._stream.read(1):
                self._fail(
                    _STREAMS,
                    f"wsgi.input.{call} returned {got} bytes but the body went on: a read must "
                    "wait for all it asked for or the end of the body",
                )
        self._ended = self._ended or call

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        self._size("read", args, kwargs, self._read_need)  # PEP 3333: read(size)
        data = self._got("read", self._stream.read(*args), args)
        if not args or args[0] < 0 or len(data) < args[0]:
            self._at_end(_call("read", args), len(data))
        return data

    def readline(self, *args: Any, **kwargs: Any) -> bytes:
        self._size("readline", args, kwargs, 0)
        line = self._got("readline", self._stream.readline(*args), args)
        if b"\n" in line[:-1]:
            self._fail(_STREAMS, f"wsgi.input.readline() returned more than one line: {line!r:.60}")
        if not line.endswith(b"\n") and (not args or args[0] < 0 or len(line) < args[0]):
            self._at_end(_call("readline", args), len(line))  # only the last line may be cut
        return line

    def readlines(self, *args: Any, **kwargs: Any) -> list[bytes]:
        self._size("readlines", args, kwargs, 0)
        lines = self._stream.readlines(*args)
        if type(lines) is not list:
            self._fail(_STREAMS, f"wsgi.input.readlines() must return a list, got {_short(lines)}")
        lines = [self._got("readlines", line, ()) for line in lines]
        for i, line in enumerate(lines):
            if b"\n" in line[:-1] or (i < len(lines) - 1 and not line.endswith(b"\n")):
                self._fail(_STREAMS, f"wsgi.input.readlines() gave a broken line: {line!r:.60}")
        # PEP 3333: the hint is optional for the server too, so only its absence is binding.
        if not args or args[0] <= 0 or not lines or not lines[-1].endswith(b"\n"):
            self._at_end(_call("readlines", args), sum(map(len, lines)))
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def close(self) -> NoReturn:
        self._fail(_STREAMS, "the application must not close wsgi.input")


class _Errors:
    """wsgi.errors as the app sees it: write(str), writelines(strs), flush()."""

    def __init__(self, stream: Any, fail: _Fail) -> None:
        self._stream, self._fail = stream, fail

    def write(self, *args: Any) -> None:
        if len(args) != 1 or type(args[0]) is not str:
            self._fail(_STREAMS, f"wsgi.errors.write() takes one str, got {_short(args)}")
        self._stream.write(args[0])

    def writelines(self, seq: Iterable[Any]) -> None:
        for line in seq:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> NoReturn:
        self._fail(_STREAMS, "the application must not close wsgi.errors")


class _Exchange:
    """One request: the start_response and write() the app sees, and what it has sent so far."""

    def __init__(self, lint: LintMiddleware, environ: dict[str, Any], start_response: Any) -> None:
        self.lint, self.fail = lint, lint._fail
        self.server_start_response = start_response
        self.head = environ["REQUEST_METHOD"] == "HEAD"
        self.code: int | None = None
        self.length: int | None = None
        self.headers_sent = False
        self.sent = 0
        self.server_write: Callable[[bytes], object] | None = None

    def start_response(self, *args: Any, **kwargs: Any) -> Callable[[bytes], object]:
        fail = self.fail
        if kwargs or len(args) not in (2, 3):
            fail(
                _START,
                f"start_response takes (status, headers[, exc_info]) positionally, got "
                f"{len(args)} arguments and keywords {sorted(kwargs)}",
            )
        code = _check_status(args[0], fail)
        _check_headers(args[1], fail)
        length = _check_entity(code, args[1], fail)
        exc_info = args[2] if len(args) == 3 else None
        if exc_info is not None and (
            type(exc_info) is not tuple
            or len(exc_info) != 3
            or not isinstance(exc_info[1], BaseException)
        ):
            fail(_START, f"exc_info must be None or a sys.exc_info() tuple, got {_short(exc_info)}")
        if exc_info is None and self.code is not None:
            fail(_START, "start_response called a second time without exc_info")
        if exc_info is not None and self.headers_sent:
            self.server_start_response(*args)  # must raise: the headers are out (PEP 3333)
            fail(
                _ERRORS,
                "start_response(..., exc_info) after the headers were sent must "
                "re-raise, but the server's returned",
            )
        write = self.server_start_response(*args)
        if not callable(write):
            fail(
                _START,
                f"start_response must return a write(body_data) callable, got {_short(write)}",
            )
        self.code, self.length, self.server_write = code, length, write
        return self.write

    def write(self, *args: Any, **kwargs: Any) -> object:
        if kwargs or len(args) != 1 or type(args[0]) is not bytes:
            self.fail(_WRITE, f"write() takes one bytes argument, got {_short(args)}")
        self.headers_sent = True  # PEP 3333: the first write() sends the headers, even b""
        self.body(args[0])
        assert self.server_write is not None
        return self.server_write(args[0])

    def body(self, data: bytes) -> None:
        if not data:
            return
        assert self.code is not None
        self.headers_sent = True
        self.sent += len(data)
        bodyless = _bodyless(self.code, self.head and not self.lint.allow_head_body)
        if bodyless:
            self.fail(bodyless[0], f"{bodyless[1]} has a body ({self.sent} bytes)")
        if self.length is not None and self.sent > self.length and self._length_counts():
            self.fail(
                _LENGTH, f"Content-Length says {self.length} but {self.sent} body bytes were sent"
            )

    def _length_counts(self) -> bool:
        # RFC 9110 §8.6: on HEAD and 304 Content-Length describes the GET response, not this one.
        return not self.head and self.code != 304

    def finish(self) -> None:
        if self.code is None:
            self.fail(
                _START, "the application finished its iterable without calling start_response"
            )
        if self.length is not None and self.sent != self.length and self._length_counts():
            self.fail(
                _LENGTH, f"Content-Length says {self.length} but {self.sent} body bytes were sent"
            )


class _Iterable:
    """The app's iterable as the server sees it."""

    def __init__(self, exchange: _Exchange, result: Any) -> None:
        self._ex, self._result, self._it = exchange, result, iter(result)
        self.closed = self._done = False
        self._items = 0
        try:
            self._len: int | None = len(result)
        except Exception:  # PEP 3333: only a len() that succeeds must be accurate
            self._len = None

    def __iter__(self) -> _Iterable:
        return self

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        if self._len is None:
            raise TypeError("the application's iterable has no len()")
        return self._len

    def __next__(self) -> bytes:
        ex = self._ex
        if self.closed:
            ex.fail(_DETAILS, "the iterable was iterated after close()")
        try:
            chunk = next(self._it)
        except StopIteration:
            if not self._done:
                self._done = True
                if self._len is not None and self._len != self._items:
                    ex.fail(
                        _DETAILS,
                        f"len(iterable) was {self._len} but it yielded {self._items} items",
                    )
                ex.finish()
            raise
        self._items += 1
        if type(chunk) is not bytes:
            ex.fail(_DETAILS, f"the iterable must yield bytes, got {_short(chunk)}")
        if ex.code is None:
            ex.fail(_START, "the iterable yielded body data before start_response was called")
        ex.body(chunk)
        return chunk

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._ex.lint._open.pop(id(self), None)
        close = getattr(self._result, "close", None)
        if close is not None:
            close()


class LintMiddleware:
    """Check every PEP 3333 rule on both sides of ``app``; pass everything through unchanged.

    ``allow_head_body=True`` accepts (and passes on) body bytes on HEAD responses, for apps that
    rely on their server to drop them. ``violations`` lists every LintError raised so far.
    """

    def __init__(self, app: WSGIApplication, *, allow_head_body: bool = False) -> None:
        if not callable(app):
            raise TypeError(f"LintMiddleware needs a WSGI application, got {app!r}")
        self.app = app
        self.allow_head_body = allow_head_body
        self.violations: list[LintError] = []
        # Strong references until close(), so that a dropped iterable is found by check_closed().
        self._open: dict[int, _Iterable] = {}

    def _fail(self, rule: str, detail: str) -> NoReturn:
        error = LintError(f"{rule}: {detail}")
        self.violations.append(error)
        raise error

    @property
    def unclosed(self) -> int:
        """How many iterables this middleware returned that were not closed yet."""
        return len(self._open)

    def check_closed(self) -> None:
        """Raise LintError if an iterable returned by this middleware was not closed.

        PEP 3333 (Specification Details): the server must call close(), also after errors. The
        dropped iterables are closed here first, so the app's resources are released. Call it when
        no request is in flight.
        """
        dropped = list(self._open.values())
        if not dropped:
            return
        for iterable in dropped:
            with contextlib.suppress(Exception):
                iterable.close()
        self._fail(
            _DETAILS,
            f"{len(dropped)} iterable(s) returned by the application were never "
            "closed: the server must call close()",
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Iterable[bytes]:
        if kwargs or len(args) != 2:
            self._fail(
                _APP,
                f"an application takes (environ, start_response) positionally, got "
                f"{len(args)} arguments and keywords {sorted(kwargs)}",
            )
        environ, start_response = args
        _check_environ(environ, self._fail)
        if not callable(start_response):
            self._fail(_START, f"start_response must be callable, got {_short(start_response)}")
        exchange = _Exchange(self, environ, start_response)
        limit = int(environ["CONTENT_LENGTH"]) if environ.get("CONTENT_LENGTH") else None
        terminated = environ.get("wsgi.input_terminated") is True
        environ["wsgi.input"] = _Input(environ["wsgi.input"], self._fail, limit, terminated)
        environ["wsgi.errors"] = _Errors(environ["wsgi.errors"], self._fail)
        result = self.app(environ, exchange.start_response)
        if result is None or isinstance(result, str | bytes | bytearray):
            self._fail(
                _APP,
                f"the application must return an iterable of bytes (a list for one "
                f"chunk), got {_short(result)}",
            )
        try:
            wrapped = _Iterable(exchange, result)
        except TypeError:
            self._fail(_APP, f"the application must return an iterable, got {_short(result)}")
        self._open[id(wrapped)] = wrapped
        return wrapped
