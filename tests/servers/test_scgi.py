"""The SCGI server over raw sockets: one request per connection, streamed body, limits, mounts."""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.servers import helpers
from tests.servers.apps import show
from tests.servers.helpers import Running, read_all
from wsgikit._scgi import encode_request
from wsgikit.gateway import ConnectionInfo, InputStream
from wsgikit.servers._cgivars import cgi_environ, mount_paths
from wsgikit.servers.scgi import SCGIServer

Serve = Callable[..., Any]


def running(app: Any, **options: Any) -> Any:
    options.setdefault("threads", 2)
    return helpers.running(app, server_class=SCGIServer, **options)


@pytest.fixture(params=[pytest.param(2, id="threads"), pytest.param(0, id="inline")])
def serve(request: pytest.FixtureRequest) -> Callable[..., Any]:
    def start(app: Any, **options: Any) -> Any:
        options.setdefault("threads", request.param)
        return running(app, **options)

    return start


def scgi(uri: str = "/", body: bytes = b"", method: str = "GET", **extra: str) -> bytes:
    """What nginx's stock scgi_params send: no SCRIPT_NAME, no PATH_INFO."""
    headers = {
        "REQUEST_METHOD": method,
        "REQUEST_URI": uri,
        "QUERY_STRING": uri.partition("?")[2],
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "example.org",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "192.0.2.1",
        **extra,
    }
    pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return encode_request(pairs, body)


def echo(environ: Any, start_response: Any) -> list[bytes]:
    chunks: list[bytes] = []
    while chunk := environ["wsgi.input"].read(65536):
        chunks.append(chunk)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [b"".join(chunks)]


def test_get(serve: Serve) -> None:
    with serve(show("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING")) as srv:
        raw = srv.request(scgi("/hello?x=1"))
    assert raw == b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nGET|/hello|x=1"


def test_large_body_reaches_the_app(serve: Serve) -> None:
    body = os.urandom(3 << 20)
    with serve(echo) as srv:
        raw = srv.request(scgi("/", body, "POST"))
    assert raw.partition(b"\r\n\r\n")[2] == body


def test_body_is_streamed_before_it_is_complete() -> None:
    seen = threading.Event()

    def first(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield environ["wsgi.input"].read(3)
        seen.set()
        yield environ["wsgi.input"].read(3)

    with running(first, buffer_bodies=False, prebuffer=0) as srv, srv.connect() as sock:
        sock.sendall(scgi("/", b"abcdef", "POST")[:-3])
        assert seen.wait(5)  # the app read the start while the rest was still to come
        sock.sendall(b"def")
        assert read_all(sock).endswith(b"abcdef")


def test_streamed_response(serve: Serve) -> None:
    def parts(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for i in range(20):
            yield b"%d;" % i

    with serve(parts) as srv:
        raw = srv.request(scgi())
    assert raw.partition(b"\r\n\r\n")[2] == b"".join(b"%d;" % i for i in range(20))


def test_script_name_option_mounts_the_app(serve: Serve) -> None:
    with serve(show("SCRIPT_NAME", "PATH_INFO"), script_name="/app") as srv:
        raw = srv.request(scgi("/app/a%2Fb?q"))
    assert raw.endswith(b"/app|/a/b")


def test_https_on_sets_the_url_scheme(serve: Serve) -> None:
    with serve(show("wsgi.url_scheme")) as srv:
        raw = srv.request(scgi(HTTPS="on"))
    assert raw.endswith(b"\r\n\r\nhttps")


def test_a_name_sent_twice_gets_its_last_value(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    # nginx with the stock scgi_params (HTTP_HOST $host) plus "scgi_param HTTP_HOST $http_host".
    block = scgi(HTTP_HOST="example.org")[:-1].partition(b":")[2]  # netstring content, no ","
    block += b"HTTP_HOST\0example.org:8080\0"
    with caplog.at_level(logging.DEBUG, "wsgikit.error"), serve(show("HTTP_HOST")) as srv:
        raw = srv.request(b"%d:%s," % (len(block), block))
    assert raw == b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nexample.org:8080"
    assert "sent more than once, the last value wins: HTTP_HOST" in caplog.text


def test_app_error_is_a_500_with_the_traceback_in_the_log(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(environ: Any, start_response: Any) -> list[bytes]:
        raise RuntimeError("kaboom")

    with caplog.at_level(logging.ERROR, "wsgikit.error"), serve(broken) as srv:
        raw = srv.request(scgi())
    assert raw.startswith(b"Status: 500 Internal Server Error\r\n")
    assert b"kaboom" not in raw
    assert "RuntimeError: kaboom" in caplog.text


def test_app_error_after_the_head_resets_the_connection(serve: Serve) -> None:
    def half(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"half"
        raise RuntimeError("kaboom")

    with serve(half) as srv, srv.connect() as sock:
        sock.sendall(scgi())
        received = b""
        with pytest.raises(ConnectionResetError):
            while data := sock.recv(65536):
                received += data
    assert received.endswith(b"half")


ENVIRON_CASES = [
    pytest.param(
        None, False, {"SCRIPT_NAME": "/a/b", "REQUEST_URI": "/a/b?x"}, ("", "/a/b"), id="stock-root"
    ),
    pytest.param(
        "/a", False, {"SCRIPT_NAME": "/a/b", "REQUEST_URI": "/a/b"}, ("/a", "/b"), id="stock-prefix"
    ),
    pytest.param(
        "/a", False, {"SCRIPT_NAME": "/a", "REQUEST_URI": "/a"}, ("/a", ""), id="prefix-exact"
    ),
    pytest.param(
        "/a", False, {"REQUEST_URI": "/a/%C3%A9%2F"}, ("/a", "/\xc3\xa9/"), id="uri-decoded-latin1"
    ),
    pytest.param("/a", False, {"REQUEST_URI": "/ab/c"}, ("", "/ab/c"), id="outside-the-prefix"),
    pytest.param(
        None, True, {"SCRIPT_NAME": "/app", "PATH_INFO": "/p"}, ("/app", "/p"), id="split-trusted"
    ),
    pytest.param(
        "/app", True, {"SCRIPT_NAME": "", "PATH_INFO": "/app/p"}, ("/app", "/p"), id="split-remount"
    ),
    pytest.param(None, True, {"SCRIPT_NAME": "/", "PATH_INFO": "x"}, ("", "/x"), id="slash-root"),
    pytest.param(None, False, {"REQUEST_URI": "/s?x=/y"}, ("", "/s"), id="scgi-no-script-name"),
]


@pytest.mark.parametrize(("prefix", "split", "given", "expected"), ENVIRON_CASES)
def test_mount_paths(prefix: str | None, split: bool, given: Any, expected: Any) -> None:
    environ = {"SCRIPT_NAME": "", "PATH_INFO": "", **given}
    mount_paths(environ, prefix, split)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == expected


HOSTILE = [
    pytest.param(b"x:" + b"a" * 20, "not a decimal number", id="netstring-length"),
    pytest.param(b"07:", "leading zero", id="leading-zero"),
    pytest.param(b"99999999:", "more than 7 digits", id="too-many-digits"),
    pytest.param(b"4:A\x00b\x00;", "expected ','", id="no-comma"),
    pytest.param(b"1001:", "exceed the limit", id="head-limit"),
    pytest.param(b"11:SCGI\x001\x00A\x00b\x00,", "must be CONTENT_LENGTH", id="cl-not-first"),
    pytest.param(encode_request([], b"ab") + b"c", "after the SCGI request body", id="extra"),
]


@pytest.mark.parametrize(("data", "message"), HOSTILE)
def test_hostile_input_drops_the_connection_with_a_log_line(
    serve: Serve, caplog: pytest.LogCaptureFixture, data: bytes, message: str
) -> None:
    with (
        caplog.at_level(logging.WARNING, "wsgikit.error"),
        serve(echo, max_header_size=1000, max_body=1000) as srv,
    ):
        assert srv.request(data) == b""
        assert srv.request(scgi()).startswith(b"Status: 200 OK")  # the process lives
    assert "dropping the SCGI connection" in caplog.text
    assert message in caplog.text


def test_a_body_over_max_body_is_413_without_the_app(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "wsgikit.error"), serve(echo, max_body=1000) as srv:
        answer = srv.request(encode_request([], b"x" * 1001))
        assert answer.startswith(b"Status: 413 Request Entity Too Large\r\n"), answer
        assert srv.request(encode_request([], b"x" * 1000)).startswith(b"Status: 200 OK")
    assert "413 request body over 1000 bytes" in caplog.text


def test_client_leaving_mid_body_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, "wsgikit.error"),
        running(echo, buffer_bodies=False, prebuffer=0) as srv,
    ):
        with srv.connect() as sock:
            sock.sendall(scgi("/", b"x" * 100, "POST")[:-50])
        assert srv.request(scgi()).startswith(b"Status: 200 OK")
    assert "in the middle of the body" in caplog.text


def test_bad_script_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="script_name"):
        SCGIServer(echo, ["127.0.0.1:0"], script_name="app")


INFO = ConnectionInfo(server_name="gateway.local", server_port=4000, peer=("10.0.0.1", 5))


def environ_of(**params: str) -> dict[str, Any]:
    pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in params.items()]
    return cgi_environ(pairs, INFO, InputStream(io.BytesIO(), 0), None)


@pytest.mark.parametrize(
    "key", ["HTTP_TRANSFER_ENCODING", "HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE", "HTTP_PROXY"]
)
def test_cgi_environ_drops_headers_the_web_server_already_handled(key: str) -> None:
    assert key not in environ_of(REQUEST_URI="/", **{key: "x"})


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("example.org:8080", "example.org", id="host-port"),
        pytest.param("[::1]:8080", "[::1]", id="ipv6"),
        pytest.param("", "gateway.local", id="no-host"),
    ],
)
def test_cgi_environ_fills_an_empty_server_name(host: str, expected: str) -> None:
    assert environ_of(SERVER_NAME="", HTTP_HOST=host)["SERVER_NAME"] == expected


def test_cgi_environ_keeps_the_web_servers_server_name() -> None:
    assert (
        environ_of(SERVER_NAME="www.example.org", HTTP_HOST="x")["SERVER_NAME"] == "www.example.org"
    )


@pytest.fixture(scope="module")
def fuzz_target() -> Iterator[Running]:
    with running(echo, max_header_size=500, max_body=500) as srv:
        yield srv


def cut_request(pairs: list[tuple[bytes, bytes]], body: bytes, cut: int) -> bytes:
    """A valid request (NULs and the reserved names taken out), cut anywhere."""
    clean = {n.replace(b"\0", b"_"): v.replace(b"\0", b"_") for n, v in pairs}
    fields = [(n, v) for n, v in clean.items() if n not in (b"CONTENT_LENGTH", b"SCGI")]
    return encode_request(fields, body)[:cut]


names_values = st.lists(st.tuples(st.binary(min_size=1, max_size=8), st.binary(max_size=8)))


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=80),
        st.builds(cut_request, names_values, st.binary(max_size=20), st.integers(0, 200)),
    )
)
def test_any_bytes_leave_the_server_serving(fuzz_target: Running, data: bytes) -> None:
    with fuzz_target.connect() as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        read_all(sock)
    assert fuzz_target.request(scgi("/", b"ok", "POST")).endswith(b"\r\n\r\nok")
