"""wsgikit.testing and request bodies: make_environ's socket-like wsgi.input and chunked bodies,
and check_middleware catching middleware that cut, drop or short-read the body."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import pytest

from wsgikit.testing import call_app, check_middleware, make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

TEXT = ("Content-Type", "text/plain")

# --- middleware that get the body wrong, and one that gets it right -----------------------------


class CapsReads:
    """Wraps wsgi.input so that one read gives at most 64 KiB (what the servers used to do)."""

    class Input:
        def __init__(self, stream: Any) -> None:
            self.stream = stream
            self.readline, self.readlines = stream.readline, stream.readlines

        def read(self, size: int = -1) -> bytes:
            data: bytes = self.stream.read(65536 if size < 0 else min(size, 65536))
            return data

        def __iter__(self) -> Any:
            return iter(self.stream)

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["wsgi.input"] = self.Input(environ["wsgi.input"])
        return self.app(environ, start_response)


def read_body(environ: WSGIEnvironment) -> bytes:
    """One read(CONTENT_LENGTH), or read(n) until b"" on a terminated stream (as werkzeug does)."""
    stream, length = environ["wsgi.input"], environ.get("CONTENT_LENGTH")
    return bytes(
        stream.read(int(length)) if length else b"".join(iter(lambda: stream.read(8192), b""))
    )


class Keeps64K:
    """Buffers the body but keeps only its first 64 KiB, with a CONTENT_LENGTH to match."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = read_body(environ)[:65536]
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        return self.app(environ, start_response)


class IgnoresChunked:
    """Replaces a body without CONTENT_LENGTH with nothing (only counts on Content-Length)."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not environ.get("CONTENT_LENGTH"):
            environ["wsgi.input"] = io.BytesIO(b"")
        return self.app(environ, start_response)


class EatsBody:
    """Reads the body for itself (to log it, say) and does not put it back."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        read_body(environ)
        return self.app(environ, start_response)


class Rewinds:
    """Buffers the body and hands the app a fresh stream of all of it: correct."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = read_body(environ)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        return self.app(environ, start_response)


# --- check_middleware ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "case", "rule"),
    [
        pytest.param(
            CapsReads,
            "post-100k",
            "PEP 3333 (Input and Error Streams): wsgi.input.read(102404) returned 65536 bytes "
            "with 36868 bytes of CONTENT_LENGTH left: a read must wait for all it asked for",
            id="short-reads",
        ),
        pytest.param(
            Keeps64K,
            "post-100k",
            "the inner app's one wsgi.input.read(65536) got 65536 bytes (sha256 ",
            id="keeps-64k",
        ),
        pytest.param(
            IgnoresChunked,
            "post-chunked",
            "the inner app's one wsgi.input.read() got 0 bytes (sha256 e3b0c44298fc...), not "
            "the 102404 sent (sha256 ",
            id="ignores-chunked",
        ),
        pytest.param(
            EatsBody,
            "post",
            "PEP 3333 (Input and Error Streams): wsgi.input.read(12) returned b'' with 12 bytes "
            "of CONTENT_LENGTH left: was the body read before (by a middleware)",
            id="eats-the-body",
        ),
    ],
)
def test_check_middleware_catches_a_mangled_body(factory: Any, case: str, rule: str) -> None:
    with pytest.raises(AssertionError) as caught:
        check_middleware(factory)
    message = str(caught.value)
    assert message.startswith(f"check_middleware: case '{case}': {rule}")


def test_check_middleware_says_a_cut_body_must_pass_whole() -> None:
    with pytest.raises(AssertionError, match="the middleware must pass the request body on whole"):
        check_middleware(Keeps64K)


def test_check_middleware_passes_a_middleware_that_buffers_the_body() -> None:
    check_middleware(Rewinds)  # also turns the chunked body into one with a CONTENT_LENGTH


# --- make_environ -------------------------------------------------------------------------------


def test_make_environ_chunked_has_no_length_and_a_terminated_input() -> None:
    env = make_environ(method="POST", body=b"a=1", chunked=True)
    assert "CONTENT_LENGTH" not in env
    assert env["CONTENT_TYPE"] == "application/octet-stream"
    assert env["wsgi.input_terminated"] is True
    assert env["wsgi.input"].read() == b"a=1"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"chunked": 1}, TypeError, id="chunked-not-bool"),
        pytest.param(
            {"chunked": True, "headers": {"Content-Length": "3"}}, ValueError, id="chunked-length"
        ),
    ],
)
def test_make_environ_bad_chunked(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        make_environ(body=b"a=1", **kwargs)


def test_make_environ_input_is_a_stream_like_a_servers() -> None:
    # A body read once is gone, as on a socket: code that rewinds it fails here as in production.
    def rewinds(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["wsgi.input"].read(3)
        environ["wsgi.input"].seek(0)
        start_response("200 OK", [TEXT])
        return [environ["wsgi.input"].read(3)]

    with pytest.raises(AttributeError, match="seek"):
        call_app(rewinds, method="POST", body=b"a=1")
