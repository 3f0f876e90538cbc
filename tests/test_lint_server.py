"""LintMiddleware on the server side: what it reports about the caller (a dropped iterable,
iteration after close(), no re-raise once headers are out, a bad wsgi.input)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from tests.lint_helpers import (
    TEXT,
    Lenient,
    using_input,
)
from wsgikit.lint import LintError, LintMiddleware
from wsgikit.testing import make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

# --- the server side ----------------------------------------------------------------------------


def without(*keys: str) -> dict[str, Any]:
    env = make_environ()
    for key in keys:
        del env[key]
    return env


REQUIRED = [
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
]


@pytest.mark.parametrize("key", REQUIRED)
def test_missing_environ_key_is_named(key: str, hello_app: WSGIApplication) -> None:
    message = f"PEP 3333 (environ Variables): environ is missing the required key '{key}'"
    with pytest.raises(LintError) as caught:
        Lenient().run(LintMiddleware(hello_app), without(key))
    assert str(caught.value) == message


class SubDict(dict[str, Any]):
    pass


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param(SubDict(make_environ()), "must be a dict (not a subclass)", id="subclass"),
        pytest.param(
            make_environ(HTTP_CONTENT_TYPE="text/plain"),
            "the header goes in 'CONTENT_TYPE'",
            id="http-content-type",
        ),
        pytest.param(
            make_environ(HTTP_CONTENT_LENGTH="1"),
            "goes in 'CONTENT_LENGTH'",
            id="http-content-length",
        ),
        pytest.param(
            without("QUERY_STRING"), "wsgiref.validate: QUERY_STRING must be present", id="no-query"
        ),
        pytest.param(
            make_environ(SERVER_PORT=80), "CGI variable SERVER_PORT must be a str", id="port-int"
        ),
        pytest.param(
            make_environ(HTTP_X="caf\u20ac"), "PEP 3333 (Unicode Issues): HTTP_X", id="not-latin1"
        ),
        pytest.param(
            make_environ(**{"wsgi.version": [1, 0]}),
            "wsgi.version must be the tuple",
            id="version-list",
        ),
        pytest.param(
            make_environ(**{"wsgi.version": (1, 1)}),
            "wsgi.version must be the tuple",
            id="version-1.1",
        ),
        pytest.param(
            make_environ(**{"wsgi.url_scheme": "ftp"}), "wsgi.url_scheme must be", id="scheme"
        ),
        pytest.param(
            make_environ(REQUEST_METHOD="GE T"), "REQUEST_METHOD must be a token", id="method"
        ),
        pytest.param(make_environ(SERVER_PORT="eighty"), "SERVER_PORT must be digits", id="port"),
        pytest.param(
            make_environ(**{"wsgi.multithread": 1}), "wsgi.multithread must be a bool", id="flag"
        ),
        pytest.param(make_environ(**{"wsgi.input": object()}), "wsgi.input (", id="input-no-read"),
        pytest.param(make_environ(**{"wsgi.errors": object()}), "wsgi.errors (", id="errors"),
        pytest.param(
            make_environ(SCRIPT_NAME="app"), "SCRIPT_NAME must be empty or start", id="script-name"
        ),
        pytest.param(
            make_environ(PATH_INFO="x"), "PATH_INFO must be empty or start", id="path-info"
        ),
        pytest.param(
            make_environ(PATH_INFO="*"), "PATH_INFO must be empty or start", id="asterisk-get"
        ),
        pytest.param(
            make_environ("", SCRIPT_NAME="/"), "SCRIPT_NAME must not be '/'", id="script-slash"
        ),
        pytest.param(
            without("SCRIPT_NAME", "PATH_INFO"), "one of SCRIPT_NAME or PATH_INFO", id="no-paths"
        ),
        pytest.param(
            make_environ(CONTENT_LENGTH="-1"), "CONTENT_LENGTH must be digits", id="length"
        ),
        pytest.param(
            make_environ(**{"wsgi.file_wrapper": 42}),
            "wsgi.file_wrapper must be callable",
            id="wrapper",
        ),
        pytest.param({**make_environ(), 1: "x"}, "environ keys must be str", id="int-key"),
    ],
)
def test_broken_environ_is_named(environ: Any, message: str, hello_app: WSGIApplication) -> None:
    with pytest.raises(LintError) as caught:
        Lenient().run(LintMiddleware(hello_app), environ)
    assert message in str(caught.value)


def test_options_asterisk_may_have_path_info_asterisk(hello_app: WSGIApplication) -> None:
    environ = make_environ(method="OPTIONS", PATH_INFO="*", REQUEST_URI="*")
    server = Lenient()
    server.run(LintMiddleware(hello_app), environ)
    assert server.calls[0][0].startswith("200")


def test_application_called_with_keywords_is_named(hello_app: WSGIApplication) -> None:
    server = Lenient()
    with pytest.raises(LintError, match=r"PEP 3333 \(The Application/Framework Side\)"):
        LintMiddleware(hello_app)(environ=make_environ(), start_response=server.start_response)


def test_start_response_must_return_write(hello_app: WSGIApplication) -> None:
    with pytest.raises(LintError, match=r"must return a write\(body_data\) callable"):
        Lenient(write_result=42).run(LintMiddleware(hello_app))


class BadStream:
    def __init__(self, result: Any) -> None:
        self.result = result

    def read(self, size: int) -> Any:
        return self.result

    readline = read

    def readlines(self, hint: int = -1) -> list[Any]:
        return [self.result]

    def __iter__(self) -> Iterator[Any]:
        return iter([self.result])


@pytest.mark.parametrize(
    ("stream", "length", "message"),
    [
        pytest.param(BadStream("text"), "4", "must return bytes, got 'text'", id="str"),
        pytest.param(
            BadStream(b"12345"), "9", r"wsgi.input.read(2) returned 5 bytes", id="too-many"
        ),
        pytest.param(BadStream(b"12"), "1", "more bytes than CONTENT_LENGTH", id="past-length"),
    ],
)
def test_broken_input_stream_is_named(stream: BadStream, length: str, message: str) -> None:
    app = using_input(lambda i: i.read(2))
    environ = make_environ(method="POST", CONTENT_LENGTH=length, **{"wsgi.input": stream})
    with pytest.raises(LintError) as caught:
        Lenient().run(LintMiddleware(app), environ)
    assert message in str(caught.value)


class ShortReading:
    """The bug PEP 3333 forbids: read(n) hands out what one recv() gave, not n bytes."""

    def __init__(self, body: bytes, piece: int = 8192) -> None:
        self.body, self.piece = body, piece

    def read(self, size: int = -1) -> bytes:
        size = len(self.body) if size < 0 else size
        data, self.body = self.body[: min(size, self.piece)], self.body[min(size, self.piece) :]
        return data

    readline = read

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self.read()]

    def __iter__(self) -> Iterator[bytes]:
        return iter([self.read()])


def read_whole_body(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Django's request.body: one read(CONTENT_LENGTH), or read() on a terminated stream."""
    length = environ.get("CONTENT_LENGTH")
    body = environ["wsgi.input"].read(int(length)) if length else environ["wsgi.input"].read()
    start_response("200 OK", [TEXT])
    return [str(len(body)).encode()]


@pytest.mark.parametrize(
    ("length", "message"),
    [
        pytest.param(
            "100000",
            "PEP 3333 (Input and Error Streams): wsgi.input.read(100000) returned 8192 bytes with "
            "91808 bytes of CONTENT_LENGTH left: a read must wait for all it asked for",
            id="content-length",
        ),
        pytest.param(
            None,
            "PEP 3333 (Input and Error Streams): wsgi.input.read() returned 8192 bytes but the "
            "body went on",
            id="terminated",
        ),
    ],
)
def test_short_reading_input_is_named(length: str | None, message: str) -> None:
    environ = make_environ(method="POST", **{"wsgi.input": ShortReading(b"x" * 100_000)})
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    with pytest.raises(LintError) as caught:
        Lenient().run(LintMiddleware(read_whole_body), environ)
    assert str(caught.value).startswith(message)


class Scripted:
    """A wsgi.input that answers each call with the next of ``answers`` (b"" or [] when out)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    def read(self, size: int = -1) -> Any:
        return self.answers.pop(0) if self.answers else b""

    readline = read

    def readlines(self, hint: int = -1) -> Any:
        return self.answers.pop(0) if self.answers else []

    def __iter__(self) -> Iterator[Any]:
        return iter(())


@pytest.mark.parametrize(
    ("action", "stream", "length", "message"),
    [
        pytest.param(
            lambda i: (i.read(10), i.read(10)),
            Scripted(b"", b"", b"late"),
            None,
            "wsgi.input.read(10) returned 4 bytes after read(10) had met the end of the body",
            id="data-after-the-end",
        ),
        pytest.param(
            lambda i: i.read(10),
            Scripted(b""),
            "10",
            "wsgi.input.read(10) returned b'' with 10 bytes of CONTENT_LENGTH left: was the body "
            "read before",
            id="ends-before-content-length",
        ),
        pytest.param(
            lambda i: i.readline(),
            Scripted(b"a\nb\n"),
            "4",
            "wsgi.input.readline() returned more than one line: b'a\\nb\\n'",
            id="readline-two-lines",
        ),
        pytest.param(
            lambda i: i.readline(),
            Scripted(b"abc", b"def\n"),
            "7",
            "wsgi.input.readline() returned 3 bytes with 4 bytes of CONTENT_LENGTH left",
            id="readline-cut-short",
        ),
        pytest.param(
            lambda i: i.readline(8),
            Scripted(b"abc", b"def\n"),
            None,
            "wsgi.input.readline(8) returned 3 bytes but the body went on",
            id="readline-cut-short-terminated",
        ),
        pytest.param(
            lambda i: i.readlines(),
            Scripted([b"ab", b"cd\n"]),
            "5",
            "wsgi.input.readlines() gave a broken line: b'ab'",
            id="readlines-broken-line",
        ),
        pytest.param(
            lambda i: i.readlines(),
            Scripted([b"ab\n"]),
            "6",
            "wsgi.input.readlines() returned 3 bytes with 3 bytes of CONTENT_LENGTH left",
            id="readlines-cut-short",
        ),
    ],
)
def test_input_that_breaks_file_semantics_is_named(
    action: Callable[[Any], object], stream: Scripted, length: str | None, message: str
) -> None:
    environ = make_environ(method="POST", **{"wsgi.input": stream})
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    with pytest.raises(LintError) as caught:
        Lenient().run(LintMiddleware(using_input(action)), environ)
    assert str(caught.value).startswith(f"PEP 3333 (Input and Error Streams): {message}")
