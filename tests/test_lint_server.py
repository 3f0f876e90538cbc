"""LintMiddleware on the server side: what it reports about the caller (a dropped iterable,
iteration after close(), no re-raise once headers are out, a bad wsgi.input)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.lint_helpers import (
    Lenient,
    using_input,
)
from wsgikit.lint import LintError, LintMiddleware
from wsgikit.testing import make_environ
from wsgikit.types import WSGIApplication

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
