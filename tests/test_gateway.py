"""The shared PEP 3333 engine: environ, start_response rules, framing, close(), file_wrapper."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import check_environ, validator

import pytest

from wsgikit.gateway import (
    ConnectionInfo,
    FileWrapper,
    InputStream,
    Outcome,
    build_environ,
    environ_from_cgi,
    run_app,
)


class Head:
    """A parsed request as wsgikit._http11 produces it."""

    def __init__(
        self,
        target: bytes = b"/",
        *,
        method: str = "GET",
        version: tuple[int, int] = (1, 1),
        headers: list[tuple[bytes, bytes]] | None = None,
        authority: bytes | None = None,
    ) -> None:
        self.method = method
        self.target = target
        path, _, self.query = target.partition(b"?")
        self.path = path
        self.authority = authority
        self.version = version
        self.headers = headers if headers is not None else [(b"Host", b"example.com")]


class Sink:
    def __init__(self, fail_after: int | None = None) -> None:
        self.sends: list[bytes] = []
        self.fail_after = fail_after

    def send(self, *parts: bytes) -> None:
        if self.fail_after is not None and len(self.sends) >= self.fail_after:
            raise BrokenPipeError("client gone")
        self.sends.append(b"".join(parts))

    @property
    def data(self) -> bytes:
        return b"".join(self.sends)


class FileSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[tuple[int, int]] = []

    def sendfile(self, file: Any, offset: int, count: int) -> int:
        self.files.append((offset, count))
        file.seek(offset)
        self.sends.append(file.read(count))
        return count


CONN = ConnectionInfo(server_name="example.com", server_port=8080, peer=("10.0.0.1", 5555))


def environ_for(head: Head | None = None, body: bytes = b"", conn: ConnectionInfo = CONN) -> Any:
    head = head or Head()
    return build_environ(head, conn, InputStream(io.BytesIO(body), len(body)))


def serve(
    app: Any,
    head: Head | None = None,
    sink: Sink | None = None,
    keep_alive: bool = True,
    cgi: bool = False,
) -> tuple[bytes, Outcome]:
    head = head or Head()
    sink = sink if sink is not None else Sink()
    outcome = run_app(
        app,
        environ_for(head),
        sink,
        method=head.method,
        version=None if cgi else head.version,
        keep_alive=keep_alive,
    )
    return sink.data, outcome


def split(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        headers[name.lower()] = value
    return lines[0], headers, body


class Tracked:
    """An app whose iterable records close()."""

    def __init__(self, body: list[bytes], status: str = "200 OK", headers: Any = None) -> None:
        self.body = body
        self.status = status
        self.headers = headers if headers is not None else [("Content-Type", "text/plain")]
        self.closed = False

    def __call__(self, environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response(self.status, list(self.headers))
        return self._iter()

    def _iter(self) -> Iterator[bytes]:
        try:
            yield from self.body
        finally:
            self.closed = True


# -- environ --------------------------------------------------------------------------------------


def test_environ_passes_wsgiref_check() -> None:
    check_environ(environ_for(Head(b"/x?y=1", method="POST"), body=b"abc"))


def test_environ_basic_keys() -> None:
    env = environ_for(Head(b"/a/b?q=1&r=2"))
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/a/b"
    assert env["QUERY_STRING"] == "q=1&r=2"
    assert env["SCRIPT_NAME"] == ""
    assert env["SERVER_NAME"] == "example.com"
    assert env["SERVER_PORT"] == "8080"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "10.0.0.1"
    assert env["REMOTE_PORT"] == "5555"
    assert env["REQUEST_URI"] == "/a/b?q=1&r=2"


def test_environ_wsgi_keys() -> None:
    env = environ_for()
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert env["wsgi.file_wrapper"] is FileWrapper
    assert env["wsgi.errors"] is sys.stderr


def test_environ_https_scheme() -> None:
    conn = ConnectionInfo(server_name="h", server_port=443, scheme="https")
    env = environ_for(conn=conn)
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTPS"] == "on"


def test_path_info_is_percent_decoded_latin1() -> None:
    # PEP 3333 "Unicode Issues": bytes decoded as latin-1; UTF-8 é is two latin-1 chars.
    env = environ_for(Head(b"/caf%C3%A9/%2Fx"))
    assert env["PATH_INFO"] == "/caf\xc3\xa9//x"
    assert all(ord(c) < 256 for c in env["PATH_INFO"])


def test_raw_non_ascii_path_bytes_are_latin1() -> None:
    env = environ_for(Head(b"/\xff"))
    assert env["PATH_INFO"] == "/\xff"


def test_asterisk_form_has_empty_path_info() -> None:
    env = environ_for(Head(b"*", method="OPTIONS"))
    assert env["PATH_INFO"] == ""
    assert env["REQUEST_URI"] == "*"
    check_environ(env)


def test_query_string_stays_encoded() -> None:
    env = environ_for(Head(b"/?a=%20b"))
    assert env["QUERY_STRING"] == "a=%20b"


@pytest.mark.parametrize(
    ("target", "script", "path"),
    [
        pytest.param(b"/app/x", "/app", "/x", id="under-prefix"),
        pytest.param(b"/app", "/app", "", id="exact-prefix"),
        pytest.param(b"/apple", "/app", "/apple", id="not-a-segment-match"),
        pytest.param(b"/app/", "/app/", "/", id="prefix-with-trailing-slash"),
    ],
)
def test_script_name_mount(target: bytes, script: str, path: str) -> None:
    conn = ConnectionInfo(server_name="h", server_port=80, script_name=script)
    env = environ_for(Head(target), conn=conn)
    assert env["SCRIPT_NAME"] == script.rstrip("/")
    assert env["PATH_INFO"] == path


def test_content_type_and_length_are_not_http_keys() -> None:
    head = Head(
        headers=[(b"Host", b"h"), (b"Content-Type", b"text/plain"), (b"Content-Length", b"3")]
    )
    env = environ_for(head, body=b"abc")
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_headers_with_underscore_are_dropped() -> None:
    head = Head(headers=[(b"Host", b"h"), (b"X-Auth", b"good"), (b"X_Auth", b"spoofed")])
    env = environ_for(head)
    assert env["HTTP_X_AUTH"] == "good"


def test_repeated_headers_joined_with_comma() -> None:
    head = Head(headers=[(b"Host", b"h"), (b"Accept", b"a/b"), (b"accept", b"c/d")])
    assert environ_for(head)["HTTP_ACCEPT"] == "a/b, c/d"


def test_repeated_cookie_headers_joined_with_semicolon() -> None:
    head = Head(headers=[(b"Host", b"h"), (b"Cookie", b"a=1"), (b"Cookie", b"b=2")])
    assert environ_for(head)["HTTP_COOKIE"] == "a=1; b=2"


def test_header_values_are_latin1() -> None:
    head = Head(headers=[(b"Host", b"h"), (b"X-Name", "café".encode())])
    assert environ_for(head)["HTTP_X_NAME"] == "café".encode().decode("latin-1")


def test_absolute_form_authority_replaces_host() -> None:
    head = Head(b"/p", authority=b"other.example:81", headers=[(b"Host", b"ignored")])
    assert environ_for(head)["HTTP_HOST"] == "other.example:81"


def test_environ_from_cgi_never_lets_params_replace_wsgi_keys() -> None:
    body = InputStream(io.BytesIO(b""), 0)
    params = [(b"wsgi.input", b"x"), (b"wsgi.url_scheme", b"https"), (b"wsgi.errors", b"y")]
    env = environ_from_cgi(params, CONN, body)
    assert env["wsgi.input"] is body
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.errors"] is sys.stderr


def test_environ_from_cgi_drops_framing_headers() -> None:
    params = [(b"HTTP_TRANSFER_ENCODING", b"chunked"), (b"HTTP_CONTENT_LENGTH", b"3")]
    env = environ_from_cgi(params, CONN, InputStream(io.BytesIO(b""), 0))
    assert "HTTP_TRANSFER_ENCODING" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_environ_from_cgi_drops_http_proxy_and_sets_https() -> None:
    params = [
        (b"REQUEST_METHOD", b"GET"),
        (b"PATH_INFO", "/é".encode()),
        (b"HTTP_PROXY", b"http://evil:1"),
        (b"HTTPS", b"on"),
    ]
    env = environ_from_cgi(params, CONN, InputStream(io.BytesIO(b""), 0))
    assert "HTTP_PROXY" not in env
    assert env["wsgi.url_scheme"] == "https"
    assert env["PATH_INFO"] == "/é".encode().decode("latin-1")
    assert env["SCRIPT_NAME"] == ""
    assert env["QUERY_STRING"] == ""


# -- wsgi.input -----------------------------------------------------------------------------------


def test_input_never_reads_past_content_length() -> None:
    raw = io.BytesIO(b"bodyNEXT REQUEST")
    stream = InputStream(raw, 4)
    assert stream.read() == b"body"
    assert stream.read(10) == b""
    assert raw.read() == b"NEXT REQUEST"


def test_input_read_sizes() -> None:
    stream = InputStream(io.BytesIO(b"abcdef"), 6)
    assert stream.read(2) == b"ab"
    assert stream.read(0) == b""
    assert stream.read(None) == b"cdef"


def test_input_readline_and_limit() -> None:
    stream = InputStream(io.BytesIO(b"one\ntwo\nthree"), 13)
    assert stream.readline() == b"one\n"
    assert stream.readline(2) == b"tw"
    assert stream.readline() == b"o\n"
    assert stream.readline() == b"three"
    assert stream.readline() == b""


def test_input_readlines_and_iter() -> None:
    assert InputStream(io.BytesIO(b"a\nb\nc"), 5).readlines() == [b"a\n", b"b\n", b"c"]
    assert list(InputStream(io.BytesIO(b"a\nb\n"), 4)) == [b"a\n", b"b\n"]


def test_input_without_length_reads_to_reader_end() -> None:
    assert InputStream(io.BytesIO(b"chunked body"), None).read() == b"chunked body"


def test_input_short_body_ends_cleanly() -> None:
    stream = InputStream(io.BytesIO(b"ab"), 10)
    assert stream.read() == b"ab"
    assert stream.read(5) == b""


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
    from wsgikit.gateway import BadRequest

    class Reader:
        def read(self, size: int) -> bytes:
            raise BadRequest(413, "body over the limit")

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


def test_for_peer_copies_the_base() -> None:
    info = CONN.for_peer(("192.0.2.1", 1234))
    assert info.base["REMOTE_ADDR"] == "192.0.2.1"
    assert info.base["REMOTE_PORT"] == "1234"
    assert CONN.base["REMOTE_ADDR"] == "10.0.0.1"
