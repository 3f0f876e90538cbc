"""The response half of the PEP 3333 engine: start_response, framing, close(), file_wrapper."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import pytest

from tests.gateway_helpers import (
    CONN,
    FileSink,
    Head,
    Sink,
    Tracked,
    environ_for,
    serve,
    split,
)
from wsgikit._wsgi_rules import check_fields
from wsgikit.gateway import (
    InputStream,
    ServerExit,
    build_environ,
    run_app,
)

# -- start_response rules -------------------------------------------------------------------------


def app_with(status: Any, headers: Any) -> Any:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response(status, headers)
        return [b"x"]

    return app


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        pytest.param(b"200 OK", [], id="status-bytes"),
        pytest.param("200", [], id="status-no-reason"),
        pytest.param("20 OK", [], id="status-two-digits"),
        pytest.param("200 OK\r\nX: y", [], id="status-crlf"),
        pytest.param("200 OK", (("A", "b"),), id="headers-tuple"),
        pytest.param("200 OK", [("A", b"b")], id="value-bytes"),
        pytest.param("200 OK", [("A", "b"), ("A", ["b"])], id="value-list-after-good"),
        pytest.param("200 OK", [(b"A", "b")], id="name-bytes"),
        pytest.param("200 OK", [("A", "b", "c")], id="three-tuple"),
        pytest.param("200 OK", [("A B", "c")], id="name-space"),
        pytest.param("200 OK", [("A:", "c")], id="name-colon"),
        pytest.param("200 OK", [("A", "b\r\nInjected: 1")], id="value-crlf"),
        pytest.param("200 OK", [("A", "b\x00")], id="value-nul"),
        pytest.param("200 OK", [("A", "\u20ac")], id="value-not-latin1"),
        pytest.param("200 OK", [("Connection", "close")], id="hop-connection"),
        pytest.param("200 OK", [("Transfer-Encoding", "chunked")], id="hop-te"),
        pytest.param("200 OK", [("Keep-Alive", "timeout=5")], id="hop-keep-alive"),
        pytest.param("200 OK", [("Upgrade", "h2c")], id="hop-upgrade"),
        pytest.param("200 OK", [("Content-Length", "-1")], id="length-negative"),
        pytest.param("200 OK", [("Content-Length", "1, 1")], id="length-list"),
        pytest.param(
            "200 OK", [("Content-Length", "1"), ("Content-Length", "1")], id="length-twice"
        ),
    ],
)
def test_bad_start_response_becomes_500(status: Any, headers: Any) -> None:
    raw, outcome = serve(app_with(status, headers))
    assert raw.startswith(b"HTTP/1.1 500 ")
    assert outcome.keep_alive is False
    assert b"Injected" not in raw


def test_fields_go_out_in_order_as_latin1_after_the_status_line() -> None:
    raw, _ = serve(app_with("200 OK", [("Content-Length", "1"), ("X", "caf\xe9")]))
    assert raw.startswith(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX: caf\xe9\r\n")


def test_check_fields_gives_the_field_lines_as_sent() -> None:
    fields = [("Content-Length", "2"), ("X", "caf\xe9"), ("Server", "x")]
    assert check_fields(fields) == (
        2,
        False,
        True,
        b"Content-Length: 2\r\nX: caf\xe9\r\nServer: x\r\n",
    )
    assert check_fields([]) == (None, False, False, b"")


def test_start_response_error_is_raised_inside_the_app() -> None:
    seen: list[BaseException] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        try:
            start_response("200 OK", [("Connection", "close")])
        except ValueError as exc:
            seen.append(exc)
            start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    raw, _ = serve(app)
    assert raw.startswith(b"HTTP/1.1 200 OK")
    assert "hop-by-hop" in str(seen[0])


def test_second_start_response_without_exc_info_is_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        start_response("404 Not Found", [])
        return [b"x"]

    raw, _ = serve(app)
    assert raw.startswith(b"HTTP/1.1 500 ")
    assert "second time without exc_info" in caplog.text


def test_exc_info_before_headers_sent_replaces_the_response() -> None:
    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("boom")
        except ValueError:
            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        yield b"sorry"

    raw, _ = serve(app)
    status, _, body = split(raw)
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert body == b"5\r\nsorry\r\n0\r\n\r\n"


def test_exc_info_after_headers_sent_is_reraised_and_response_cut() -> None:
    reraised: list[BaseException] = []

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first"
        try:
            raise KeyError("late")
        except KeyError:
            try:
                start_response("500 Oops", [], sys.exc_info())
            except KeyError as exc:
                reraised.append(exc)
                raise

    raw, outcome = serve(app)
    assert reraised
    assert raw.startswith(b"HTTP/1.1 200 OK")
    assert not raw.endswith(b"0\r\n\r\n")  # no terminating chunk: the client sees the cut
    assert outcome.aborted
    assert outcome.keep_alive is False


def test_write_callable_sends_before_returning() -> None:
    sink = Sink()

    def app(environ: Any, start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"early")
        assert b"early" in sink.data  # PEP 3333: write() transmits before it returns
        return [b"late"]

    raw, _ = serve(app, sink=sink)
    assert split(raw)[2] == b"5\r\nearly\r\n4\r\nlate\r\n0\r\n\r\n"


def test_write_rejects_str() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])("text")
        return []

    raw, _ = serve(app)
    assert raw.startswith(b"HTTP/1.1 500 ")


def test_app_returning_without_start_response_is_500() -> None:
    raw, _ = serve(lambda environ, start_response: [b"x"])
    assert raw.startswith(b"HTTP/1.1 500 ")


def test_app_yielding_str_is_500_when_nothing_sent() -> None:
    raw, _ = serve(Tracked(["text"]))  # type: ignore[list-item]
    assert raw.startswith(b"HTTP/1.1 500 ")


# -- framing --------------------------------------------------------------------------------------


def test_given_content_length_is_kept() -> None:
    app = Tracked([b"ab", b"cd"], headers=[("Content-Length", "4")])
    raw, outcome = serve(app)
    _, headers, body = split(raw)
    assert headers["content-length"] == "4"
    assert "transfer-encoding" not in headers
    assert body == b"abcd"
    assert outcome.keep_alive


def test_one_element_list_infers_content_length() -> None:
    raw, outcome = serve(app_with("200 OK", [("Content-Type", "text/plain")]))
    _, headers, body = split(raw)
    assert headers["content-length"] == "1"
    assert body == b"x"
    assert outcome.keep_alive


def test_empty_list_gets_content_length_zero() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return []

    _, headers, body = split(serve(app)[0])
    assert headers["content-length"] == "0"
    assert body == b""


def test_generator_on_http11_is_chunked() -> None:
    raw, outcome = serve(Tracked([b"a", b"", b"bc"]))
    _, headers, body = split(raw)
    assert headers["transfer-encoding"] == "chunked"
    assert body == b"1\r\na\r\n2\r\nbc\r\n0\r\n\r\n"
    assert outcome.keep_alive


def test_generator_on_http10_closes() -> None:
    raw, outcome = serve(Tracked([b"a", b"bc"]), Head(version=(1, 0), headers=[]))
    status, headers, body = split(raw)
    assert status == "HTTP/1.1 200 OK"  # RFC 9112 §2.3
    assert headers["connection"] == "close"
    assert body == b"abc"
    assert outcome.keep_alive is False


def test_http10_keep_alive_with_length() -> None:
    raw, outcome = serve(app_with("200 OK", []), Head(version=(1, 0), headers=[]))
    _, headers, _ = split(raw)
    assert headers["connection"] == "keep-alive"
    assert outcome.keep_alive


def test_connection_close_when_not_keep_alive() -> None:
    raw, outcome = serve(app_with("200 OK", []), keep_alive=False)
    assert split(raw)[1]["connection"] == "close"
    assert outcome.keep_alive is False


def test_date_and_server_headers() -> None:
    _, headers, _ = split(serve(app_with("200 OK", []))[0])
    assert headers["date"].endswith(" GMT")
    assert headers["server"] == "wsgikit"


def test_app_date_and_server_win() -> None:
    app = app_with("200 OK", [("Date", "Thu, 01 Jan 1970 00:00:00 GMT"), ("Server", "mine")])
    raw = serve(app)[0]
    assert raw.count(b"Date:") == 1
    assert raw.count(b"Server:") == 1
    assert b"Server: mine" in raw


def test_server_header_can_be_turned_off() -> None:
    sink = Sink()
    run_app(
        app_with("200 OK", []),
        environ_for(),
        sink,
        method="GET",
        version=(1, 1),
        keep_alive=True,
        server_header=None,
    )
    assert b"Server:" not in sink.data


def test_never_more_bytes_than_content_length(caplog: pytest.LogCaptureFixture) -> None:
    app = Tracked([b"abc", b"defgh", b"more"], headers=[("Content-Length", "5")])
    raw, outcome = serve(app)
    assert split(raw)[2] == b"abcde"
    assert outcome.keep_alive is False
    assert app.closed
    assert "more than Content-Length" in caplog.text


def test_too_few_bytes_closes_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    app = Tracked([b"abc"], headers=[("Content-Length", "10")])
    raw, outcome = serve(app)
    assert split(raw)[2] == b"abc"
    assert outcome.keep_alive is False
    assert outcome.aborted
    assert "Content-Length said 10" in caplog.text


@pytest.mark.parametrize(
    ("method", "status"),
    [
        pytest.param("HEAD", "200 OK", id="head"),
        pytest.param("GET", "204 No Content", id="204"),
        pytest.param("GET", "304 Not Modified", id="304"),
        pytest.param("GET", "103 Early Hints", id="1xx"),
    ],
)
def test_no_body(method: str, status: str) -> None:
    app = Tracked([b"should not be sent"], status=status)
    raw, outcome = serve(app, Head(method=method))
    _, headers, body = split(raw)
    assert body == b""
    assert "transfer-encoding" not in headers
    assert app.closed
    assert outcome.keep_alive


def test_head_keeps_get_content_length() -> None:
    raw, _ = serve(app_with("200 OK", [("Content-Length", "1")]), Head(method="HEAD"))
    assert split(raw)[1]["content-length"] == "1"


def test_head_infers_content_length_like_get() -> None:
    raw, _ = serve(app_with("200 OK", []), Head(method="HEAD"))
    _, headers, body = split(raw)
    assert headers["content-length"] == "1"
    assert body == b""


def test_204_drops_content_length() -> None:
    raw, _ = serve(app_with("204 No Content", [("Content-Length", "1")]))
    assert "content-length" not in split(raw)[1]


def test_cgi_framing_uses_status_line() -> None:
    raw, _ = serve(Tracked([b"a", b"b"]), cgi=True)
    assert raw == b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nab"


# -- what is sent when ----------------------------------------------------------------------------


def test_nothing_sent_before_first_non_empty_chunk() -> None:
    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b""
        raise RuntimeError("after an empty chunk")

    raw, _ = serve(app)
    assert raw.startswith(b"HTTP/1.1 500 ")  # headers were not out yet, so a 500 is possible


def test_head_and_first_chunk_go_in_one_send() -> None:
    sink = Sink()
    serve(app_with("200 OK", []), sink=sink)
    assert len(sink.sends) == 1


def test_lazy_start_response_in_generator() -> None:
    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("201 Created", [("Content-Type", "text/plain")])
        yield b"made"

    raw, _ = serve(app)
    assert raw.startswith(b"HTTP/1.1 201 Created")


# -- close() --------------------------------------------------------------------------------------


def test_close_called_on_normal_path() -> None:
    app = Tracked([b"a"])
    serve(app)
    assert app.closed


def test_close_called_when_app_raises_mid_iteration(caplog: pytest.LogCaptureFixture) -> None:
    class Body:
        closed = False

        def __iter__(self) -> Iterator[bytes]:
            yield b"a"
            raise RuntimeError("mid-iteration")

        def close(self) -> None:
            Body.closed = True

    def app(environ: Any, start_response: Any) -> Body:
        start_response("200 OK", [])
        return Body()

    _, outcome = serve(app)
    assert Body.closed
    assert outcome.aborted
    assert "mid-iteration" in caplog.text


def test_close_called_when_client_is_gone() -> None:
    app = Tracked([b"a", b"b", b"c"])
    _, outcome = serve(app, sink=Sink(fail_after=1))
    assert app.closed
    assert outcome.aborted
    assert outcome.keep_alive is False


def test_error_in_close_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Body(list[bytes]):
        def close(self) -> None:
            raise OSError("close failed")

    def app(environ: Any, start_response: Any) -> Body:
        start_response("200 OK", [])
        return Body([b"a", b"b"])

    raw, _ = serve(app)
    assert raw.endswith(b"0\r\n\r\n")
    assert "closing the app's iterable" in caplog.text


def test_app_error_is_logged_with_request(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        raise LookupError("no such thing")

    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        serve(app, Head(b"/where"))
    record = caplog.records[-1]
    assert record.name == "wsgikit.error"
    assert "/where" in record.getMessage()
    assert record.exc_info is not None


# -- BaseExceptions: the app's cost its request; ServerExit is the server's ------------------------


class LibraryExit(BaseException):
    pass


BASE_EXCEPTIONS = [
    pytest.param(SystemExit(3), id="SystemExit"),
    pytest.param(KeyboardInterrupt(), id="KeyboardInterrupt"),
    pytest.param(GeneratorExit(), id="GeneratorExit"),
    pytest.param(LibraryExit(), id="own-BaseException"),
]


@pytest.mark.parametrize("exc", BASE_EXCEPTIONS)
def test_base_exception_before_start_response_is_a_logged_500(
    exc: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        raise exc

    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        raw, outcome = serve(app)
    assert raw.startswith(b"HTTP/1.1 500 ")
    assert outcome.keep_alive is False
    assert [r.exc_info[1] for r in caplog.records if r.exc_info] == [exc]


@pytest.mark.parametrize("exc", BASE_EXCEPTIONS)
def test_base_exception_mid_body_aborts_and_closes(
    exc: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    closed: list[bool] = []

    def body() -> Iterator[bytes]:
        try:
            yield b"part"
            raise exc
        finally:
            closed.append(True)

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body()

    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        raw, outcome = serve(app)
    assert b"part" in raw
    assert outcome.aborted
    assert closed
    assert [r.exc_info[1] for r in caplog.records if r.exc_info] == [exc]


@pytest.mark.parametrize("exc", BASE_EXCEPTIONS)
def test_base_exception_in_close_is_logged_not_raised(
    exc: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    class Body(list[bytes]):
        def close(self) -> None:
            raise exc

    def app(environ: Any, start_response: Any) -> Body:
        start_response("200 OK", [])
        return Body([b"a", b"b"])

    with caplog.at_level(logging.ERROR, logger="wsgikit.error"):
        raw, outcome = serve(app)
    assert raw.endswith(b"0\r\n\r\n")
    assert outcome.keep_alive is True  # the response went out whole
    assert [r.exc_info[1] for r in caplog.records if r.exc_info] == [exc]


class Stop(ServerExit):
    pass


def test_server_exit_goes_through_and_the_iterable_is_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Tracked([b"a", b"b"])

    def interrupted(environ: Any, start_response: Any) -> Iterator[bytes]:
        for chunk in app(environ, start_response):
            yield chunk
            raise Stop  # as a signal handler would, in the middle of the app

    with pytest.raises(Stop):
        serve(interrupted)
    assert app.closed
    assert not caplog.records


def test_server_exit_from_close_goes_through() -> None:
    class Body(list[bytes]):
        def close(self) -> None:
            raise Stop

    def app(environ: Any, start_response: Any) -> Body:
        start_response("200 OK", [])
        return Body([b"a"])

    with pytest.raises(Stop):
        serve(app)


# -- file_wrapper ---------------------------------------------------------------------------------


def file_app(path: Any, headers: Any = ()) -> Any:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream"), *headers])
        f = open(path, "rb")  # noqa: SIM115 - the wrapper's close() closes it
        f.seek(2)
        return environ["wsgi.file_wrapper"](f, 4)

    return app


def test_file_wrapper_uses_sendfile(tmp_path: Any) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    sink = FileSink()
    raw, outcome = serve(file_app(path), sink=sink)
    _, headers, body = split(raw)
    assert sink.files == [(2, 8)]
    assert headers["content-length"] == "8"
    assert body == b"23456789"
    assert outcome.keep_alive


def test_file_wrapper_respects_content_length(tmp_path: Any) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    sink = FileSink()
    raw, _ = serve(file_app(path, [("Content-Length", "3")]), sink=sink)
    assert sink.files == [(2, 3)]
    assert split(raw)[2] == b"234"


def test_file_wrapper_without_sendfile_iterates(tmp_path: Any) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    raw, _ = serve(file_app(path))
    assert split(raw)[2] == b"4\r\n2345\r\n4\r\n6789\r\n0\r\n\r\n"


def test_file_wrapper_head_sends_no_file(tmp_path: Any) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    sink = FileSink()
    raw, _ = serve(file_app(path), Head(method="HEAD"), sink=sink)
    assert sink.files == []
    assert split(raw)[1]["content-length"] == "8"


def test_file_wrapper_closes_file(tmp_path: Any) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    opened: list[Any] = []

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [])
        f = open(path, "rb")  # noqa: SIM115
        opened.append(f)
        return environ["wsgi.file_wrapper"](f)

    serve(app, sink=FileSink())
    assert opened[0].closed


# -- validator on the server side -----------------------------------------------------------------


@pytest.mark.parametrize(
    "app",
    [
        pytest.param(app_with("200 OK", [("Content-Type", "text/plain")]), id="list"),
        pytest.param(Tracked([b"a", b"b"]), id="generator"),
    ],
)
def test_validated_apps_are_served(app: Any) -> None:
    raw, outcome = serve(validator(app))
    assert raw.startswith(b"HTTP/1.1 200 OK")
    assert outcome.keep_alive


def test_bad_request_from_the_body_reader_is_answered_with_its_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from wsgikit.gateway import ClientError

    class Reader:
        def read(self, size: int) -> bytes:
            raise ClientError(413, "body over the limit")

    def app(environ: Any, start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b"never"]

    head = Head(method="POST")
    env = build_environ(head, CONN, InputStream(Reader(), None))
    sink = Sink()
    with caplog.at_level(logging.INFO, logger="wsgikit.error"):
        outcome = run_app(app, env, sink, method="POST", version=(1, 1), keep_alive=True)
    assert sink.data.startswith(b"HTTP/1.1 413 ")
    assert outcome.keep_alive is False
    assert "body over the limit" in caplog.text
    assert not any(r.exc_info for r in caplog.records)
