"""ContentLengthMiddleware: buffer small bodies and set Content-Length, stream large ones."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.util import FileWrapper

import pytest

from wsgikit.middleware.content_length import ContentLengthMiddleware
from wsgikit.testing import call_app, check_middleware, make_environ
from wsgikit.types import StartResponse, WSGIEnvironment

TEXT = ("Content-Type", "text/plain")


class Body:
    """An app's iterable that records how far it was read and whether it was closed."""

    def __init__(self, chunks: Iterable[bytes], before: Callable[[], object] | None = None) -> None:
        self.chunks = list(chunks)
        self.before = before  # called on the first next(): a lazy start_response
        self.read = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        if self.before is not None:
            self.before()
        for chunk in self.chunks:
            self.read += 1
            yield chunk

    def close(self) -> None:
        self.closed = True


def app_of(
    body: Body, status: str = "200 OK", headers: list[tuple[str, str]] | None = None
) -> Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response(status, [TEXT] if headers is None else headers)
        return body

    return app


class Outer:
    """A start_response that records its calls and what write() got."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, str]], Any]] = []
        self.written: list[bytes] = []

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        self.calls.append((status, headers, exc_info))
        return self.written.append

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.calls[-1][1] if k.lower() == name.lower()), None)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"max_buffer": 0}, id="never-buffer"),
        pytest.param({"max_buffer": 3, "min_chunk": 4}, id="tiny-buffer"),
        pytest.param({"min_chunk": 0}, id="no-coalescing"),
    ],
)
def test_passes_check_middleware(options: dict[str, int]) -> None:
    check_middleware(ContentLengthMiddleware, **options)


def test_generator_body_gets_content_length() -> None:
    body = Body([b"hello, ", b"", b"world"])
    result = call_app(ContentLengthMiddleware(app_of(body)))
    assert result.header("Content-Length") == "12"
    assert result.body == b"hello, world"


def test_buffered_body_closes_inner_before_returning() -> None:
    body = Body([b"abc"])
    ContentLengthMiddleware(app_of(body))(make_environ(), Outer())
    assert body.closed


def test_empty_body_gets_content_length_zero() -> None:
    result = call_app(ContentLengthMiddleware(app_of(Body([]))))
    assert result.header("Content-Length") == "0"
    assert result.body == b""


def test_app_header_list_is_not_mutated() -> None:
    headers = [TEXT]
    call_app(ContentLengthMiddleware(app_of(Body([b"x"]), headers=headers)))
    assert headers == [TEXT]


def test_write_data_comes_before_the_iterable() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])(b"written ")
        return [b"returned"]

    result = call_app(ContentLengthMiddleware(app))
    assert result.body == b"written returned"
    assert result.header("Content-Length") == "16"


def test_write_past_max_buffer_streams_at_once() -> None:
    outer = Outer()
    seen_during_call: list[list[bytes]] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", [TEXT])
        write(b"12345")
        write(b"67890")
        seen_during_call.append(list(outer.written))
        return [b"!"]

    result = ContentLengthMiddleware(app, max_buffer=8)(make_environ(), outer)
    assert seen_during_call == [[b"1234567890"]]
    assert outer.header("Content-Length") is None
    assert list(result) == [b"!"]


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        pytest.param("200 OK", [TEXT, ("Content-Length", "3")], id="has-content-length"),
        pytest.param("204 No Content", [], id="204"),
        pytest.param("304 Not Modified", [("ETag", '"x"')], id="304"),
        pytest.param("200 OK", [("Content-Type", "text/event-stream")], id="event-stream"),
    ],
)
def test_passes_response_through_untouched(status: str, headers: list[tuple[str, str]]) -> None:
    body = Body([b"abc"] if status == "200 OK" else [])
    outer = Outer()
    result = ContentLengthMiddleware(app_of(body, status, headers))(make_environ(), outer)
    assert result is body
    assert outer.calls == [(status, headers, None)]


def test_event_stream_is_not_held_back() -> None:
    body = Body([b"data: 1\n\n", b"data: 2\n\n"])
    headers = [("Content-Type", "text/event-stream; charset=utf-8")]
    result = ContentLengthMiddleware(app_of(body, headers=headers))(make_environ(), Outer())
    assert next(iter(result)) == b"data: 1\n\n"
    assert body.read == 1


def test_lazy_start_response_with_content_length_passes_through() -> None:
    outer = Outer()
    headers = [TEXT, ("Content-Length", "6")]
    seen: list[StartResponse] = []
    body = Body([b"abc", b"def"], before=lambda: seen[0]("200 OK", headers))

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.append(start_response)
        return body

    result = ContentLengthMiddleware(app, min_chunk=100)(make_environ(), outer)
    assert outer.calls == [("200 OK", headers, None)]
    assert list(result) == [b"abc", b"def"]  # as the app made them: no coalescing


def test_lazy_start_response_without_length_is_buffered() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        yield b"lazy"

    result = call_app(ContentLengthMiddleware(app))
    assert result.header("Content-Length") == "4"


def test_file_wrapper_body_is_returned_as_is() -> None:
    with open(__file__, "rb") as file:
        wrapper = FileWrapper(file)

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [TEXT])
            return wrapper

        outer = Outer()
        result = ContentLengthMiddleware(app)(make_environ(), outer)
        assert result is wrapper
        assert outer.header("Content-Length") is None


def test_head_keeps_headers_and_drops_body() -> None:
    body = Body([b"hello"])
    result = call_app(ContentLengthMiddleware(app_of(body)), method="HEAD")
    assert result.body == b""
    assert result.header("Content-Length") is None  # the GET length is unknown
    assert body.closed


def test_head_reads_a_lazy_app_only_until_start_response() -> None:
    outer = Outer()
    seen: list[StartResponse] = []
    body = Body([b"one", b"two", b"three"], before=lambda: seen[0]("200 OK", [TEXT]))

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.append(start_response)
        return body

    assert list(ContentLengthMiddleware(app)(make_environ(method="HEAD"), outer)) == []
    assert body.read == 1
    assert body.closed
    assert outer.calls[0][0] == "200 OK"


def test_large_body_streams_without_length() -> None:
    body = Body([b"x" * 10] * 100)
    result = call_app(ContentLengthMiddleware(app_of(body), max_buffer=50, min_chunk=0))
    assert result.header("Content-Length") is None
    assert result.body == b"x" * 1000


def test_large_body_is_not_read_ahead_past_max_buffer() -> None:
    body = Body([b"x" * 10] * 100)
    ContentLengthMiddleware(app_of(body), max_buffer=50)(make_environ(), Outer())
    assert body.read == 6  # 60 bytes: just past max_buffer, not the whole body


def test_small_chunks_are_coalesced_to_min_chunk() -> None:
    body = Body([b"x" * 10] * 100)
    result = ContentLengthMiddleware(app_of(body), max_buffer=25, min_chunk=100)
    chunks = list(result(make_environ(), Outer()))
    assert b"".join(chunks) == b"x" * 1000
    assert all(len(chunk) >= 100 for chunk in chunks[:-1])
    assert len(chunks) < 15


def test_big_chunks_pass_without_copy() -> None:
    big = b"y" * 1000
    body = Body([b"x" * 10, b"x" * 10, big])
    middleware = ContentLengthMiddleware(app_of(body), max_buffer=15, min_chunk=20)
    chunks = list(middleware(make_environ(), Outer()))
    assert chunks[-1] is big


def test_streaming_close_reaches_inner_early() -> None:
    body = Body([b"x" * 10] * 100)
    result = ContentLengthMiddleware(app_of(body), max_buffer=15, min_chunk=0)(
        make_environ(), Outer()
    )
    iterator = iter(result)
    next(iterator)
    result.close()  # type: ignore[attr-defined]
    assert body.closed
    assert body.read < 100


class Boom(Exception):
    pass


def test_error_while_buffering_closes_inner_and_propagates() -> None:
    closed: list[bool] = []

    class Failing:
        def __iter__(self) -> Iterator[bytes]:
            yield b"part"
            raise Boom

        def close(self) -> None:
            closed.append(True)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        return Failing()

    outer = Outer()
    with pytest.raises(Boom):
        ContentLengthMiddleware(app)(make_environ(), outer)
    assert closed == [True]
    assert outer.calls == []  # nothing was started: an outer error handler can still answer


def test_exc_info_before_body_replaces_the_response() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        try:
            raise Boom
        except Boom:
            start_response("500 Internal Server Error", [TEXT], sys.exc_info())
        return [b"error page"]

    result = call_app(ContentLengthMiddleware(app))
    assert result.status == "500 Internal Server Error"
    assert result.header("Content-Length") == "10"


def test_exc_info_after_buffered_body_reraises() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [TEXT])
        yield b"half a page"
        try:
            raise Boom
        except Boom:
            start_response("500 Internal Server Error", [TEXT], sys.exc_info())
        yield b"error page"

    outer = Outer()
    with pytest.raises(Boom):
        ContentLengthMiddleware(app)(make_environ(), outer)
    assert outer.calls == []


def test_exc_info_while_streaming_reraises() -> None:
    closed: list[bool] = []

    def body(start_response: StartResponse) -> Iterator[bytes]:
        try:
            yield b"x" * 20
            try:
                raise Boom
            except Boom:
                start_response("500 Internal Server Error", [TEXT], sys.exc_info())
        finally:
            closed.append(True)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        return body(start_response)

    outer = Outer()
    result = ContentLengthMiddleware(app, max_buffer=10)(make_environ(), outer)
    with pytest.raises(Boom):
        list(result)
    result.close()  # type: ignore[attr-defined]
    assert [call[0] for call in outer.calls] == ["200 OK"]
    assert closed == [True]


def test_exc_info_in_a_passed_through_response_goes_to_the_server() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT, ("Content-Length", "5")])
        try:
            raise Boom
        except Boom:
            start_response("500 Internal Server Error", [TEXT], sys.exc_info())
        return [b"error"]

    outer = Outer()
    ContentLengthMiddleware(app)(make_environ(), outer)
    assert [call[0] for call in outer.calls] == ["200 OK", "500 Internal Server Error"]
    assert outer.calls[1][2][0] is Boom


def test_app_that_never_starts_the_response_is_an_error() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return [b"no status"]

    with pytest.raises(RuntimeError, match="start_response"):
        ContentLengthMiddleware(app)(make_environ(), Outer())


def test_second_start_response_without_exc_info_is_an_error() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        start_response("200 OK", [TEXT])
        return []

    with pytest.raises(RuntimeError, match="second time"):
        ContentLengthMiddleware(app)(make_environ(), Outer())


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        pytest.param({"max_buffer": -1}, ValueError, "max_buffer", id="negative-buffer"),
        pytest.param({"min_chunk": -5}, ValueError, "min_chunk", id="negative-chunk"),
        pytest.param({"max_buffer": "1"}, TypeError, "max_buffer", id="str-buffer"),
        pytest.param({"min_chunk": True}, TypeError, "min_chunk", id="bool-chunk"),
        pytest.param({"max_buffer": 1.5}, TypeError, "max_buffer", id="float-buffer"),
    ],
)
def test_bad_options_are_rejected(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ContentLengthMiddleware(app_of(Body([])), **options)


def test_non_callable_app_is_rejected() -> None:
    with pytest.raises(TypeError, match="app"):
        ContentLengthMiddleware("not an app")  # type: ignore[arg-type]
