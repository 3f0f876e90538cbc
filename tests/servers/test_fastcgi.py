"""The FastCGI server over raw sockets: keep-conn, multiplexing, management records, abort, hostile
input, stdin streaming, stdout framing, wsgi.errors routing, mount points and fd 0 inheritance.

Every app runs under wsgiref.validate on the server side; a small client below speaks FastCGI.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers import helpers
from tests.servers.fcgi_client import Client, Response, begin, params, request, stdin
from tests.test_fcgi_scgi_props import sessions
from wsgikit._fcgi import (
    FCGI_ABORT_REQUEST,
    FCGI_AUTHORIZER,
    FCGI_END_REQUEST,
    FCGI_GET_VALUES,
    FCGI_GET_VALUES_RESULT,
    FCGI_PARAMS,
    FCGI_STDERR,
    FCGI_STDIN,
    FCGI_STDOUT,
    FCGI_UNKNOWN_ROLE,
    FCGI_UNKNOWN_TYPE,
    decode_params,
    encode_params,
    encode_record,
)
from wsgikit.servers._listen import BindError
from wsgikit.servers.fastcgi import FastCGIServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_HEADER = struct.Struct("!BBHHBx")


class Running(helpers.Running):
    """A FastCGI server under test, with a FastCGI client."""

    @contextmanager
    def client(self) -> Iterator[Client]:
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            yield Client(sock)

    def exchange(self, data: bytes, rid: int = 1) -> Response:
        with self.client() as client:
            client.send(data)
            return client.response(rid)


def running(app: Any, **options: Any) -> Any:
    options.setdefault("threads", 2)
    return helpers.running(app, server_class=FastCGIServer, handle=Running, **options)


@pytest.fixture(params=[pytest.param(2, id="threads"), pytest.param(0, id="inline")])
def serve(request: pytest.FixtureRequest) -> Callable[..., Any]:
    def start(app: Any, **options: Any) -> Any:
        options.setdefault("threads", request.param)
        return running(app, **options)

    return start


Serve = Callable[..., Any]

# -- apps ----------------------------------------------------------------------------------------


def hello(environ: Any, start_response: Any) -> list[bytes]:
    body = b"Hello, " + environ["PATH_INFO"].encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def echo(environ: Any, start_response: Any) -> list[bytes]:
    chunks = []
    while chunk := environ["wsgi.input"].read(65536):
        chunks.append(chunk)
    body = b"".join(chunks)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body]


def show(*keys: str) -> Any:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        body = "|".join(str(environ.get(k)) for k in keys).encode("latin-1")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return app


def test_get(serve: Serve) -> None:
    with serve(hello) as srv:
        resp = srv.exchange(request(PATH_INFO="/world"))
    assert resp.status == "Status: 200 OK"
    assert resp.body == b"Hello, /world"
    assert resp.end == struct.pack("!LB3x", 0, 0)  # appStatus 0, FCGI_REQUEST_COMPLETE


def test_stdout_stream_is_closed_before_end_request(serve: Serve) -> None:
    with serve(hello) as srv:
        resp = srv.exchange(request())
    kinds = [(r.type, len(r.content)) for r in resp.records]
    assert kinds[-2:] == [(FCGI_STDOUT, 0), (FCGI_END_REQUEST, 8)]


def test_keep_conn_serves_several_requests_on_one_connection(serve: Serve) -> None:
    with serve(hello) as srv, srv.client() as client:
        for path in ("/a", "/b", "/c"):
            client.send(request(PATH_INFO=path))
            assert client.response().body == b"Hello, " + path.encode()


def test_without_keep_conn_the_server_closes_after_end_request(serve: Serve) -> None:
    with serve(hello) as srv, srv.client() as client:
        client.send(request(keep=False))
        assert client.response().body == b"Hello, /"
        assert client.closed()


def test_post_body_reaches_the_app(serve: Serve) -> None:
    body = os.urandom(300_000)
    with serve(echo) as srv:
        resp = srv.exchange(request(body=body))
    assert resp.body == body


def test_absurd_content_length_is_ignored_and_the_stdin_stream_ends_the_body(serve: Serve) -> None:
    huge = params(1, REQUEST_METHOD="POST", CONTENT_LENGTH="9" * 5000)
    with serve(echo) as srv:
        resp = srv.exchange(begin(1) + huge + stdin(1, b"abc"))
    assert resp.body == b"abc"


def test_body_without_content_length_ends_with_the_stdin_stream(serve: Serve) -> None:
    with serve(echo) as srv:
        resp = srv.exchange(begin(1) + params(1, REQUEST_METHOD="POST") + stdin(1, b"abc"))
    assert resp.body == b"abc"


def test_stdin_is_streamed_to_the_app_before_it_ends() -> None:
    seen = threading.Event()

    def first_read(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield environ["wsgi.input"].read(5)
        seen.set()
        while environ["wsgi.input"].read(65536):
            pass
        yield b"|done"

    with running(first_read, prebuffer=0) as srv, srv.client() as client:
        client.send(request(body=b"x" * 10)[:-8])  # withhold the empty STDIN record
        assert seen.wait(5)  # the app read while the body was still open
        client.send(encode_record(FCGI_STDIN, 1))
        assert client.response().body == b"xxxxx|done"


def test_stdout_records_are_at_most_65535_bytes_and_padded_to_8(serve: Serve) -> None:
    size = 200_003

    def big(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"z" * size]

    with serve(big) as srv:
        resp = srv.exchange(request())
    stdout = [r for r in resp.records if r.type == FCGI_STDOUT]
    assert all(len(r.content) <= 65535 for r in stdout)
    assert all((len(r.content) + r.padding) % 8 == 0 for r in stdout)
    assert resp.body == b"z" * size


def test_streamed_response_arrives_in_order(serve: Serve) -> None:
    def parts(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for i in range(50):
            yield b"part%d;" % i

    with serve(parts) as srv:
        resp = srv.exchange(request())
    assert resp.body == b"".join(b"part%d;" % i for i in range(50))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param([b"one"], id="list-of-one"),
        pytest.param([b"a", b"", b"b" * 70000], id="list-of-three"),
        pytest.param((b"t", b"u"), id="tuple"),
        pytest.param([], id="empty"),
    ],
)
def test_ready_made_bodies_go_out_with_end_request(serve: Serve, body: Any) -> None:
    # Not validated: wsgiref.validate wraps every body in an iterator, hiding the list.
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    with serve(app, validate=False) as srv, srv.client() as client:
        for _ in range(2):
            client.send(request())
            resp = client.response()
            assert resp.body == b"".join(body)
            assert resp.status == "Status: 200 OK"


def test_multiplexed_requests_are_each_answered_with_their_id(serve: Serve) -> None:
    with serve(hello) as srv, srv.client() as client:
        # Interleaved: both begin, then params, then stdin, id 2 first.
        client.send(begin(1) + begin(2) + params(2, PATH_INFO="/two") + params(1, PATH_INFO="/one"))
        client.send(stdin(2) + stdin(1))
        bodies: dict[int, bytes] = {}
        ends = 0
        while ends < 2:
            rec = client.record()
            assert rec is not None
            if rec.type == FCGI_STDOUT:
                bodies[rec.rid] = bodies.get(rec.rid, b"") + rec.content
            ends += rec.type == FCGI_END_REQUEST
    assert bodies[1].endswith(b"Hello, /one")
    assert bodies[2].endswith(b"Hello, /two")


def get_values(*names: bytes) -> bytes:
    return encode_record(FCGI_GET_VALUES, 0, encode_params((n, b"") for n in names))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            {"multiplex": True, "max_requests": 7, "max_connections": 50},
            {b"FCGI_MAX_CONNS": b"50", b"FCGI_MAX_REQS": b"7", b"FCGI_MPXS_CONNS": b"1"},
            id="multiplexing",
        ),
        pytest.param(
            {"multiplex": False, "max_connections": 9},
            {b"FCGI_MAX_CONNS": b"9", b"FCGI_MAX_REQS": b"1", b"FCGI_MPXS_CONNS": b"0"},
            id="one-request-per-connection",
        ),
    ],
)
def test_get_values_reflects_the_settings(options: dict[str, Any], expected: Any) -> None:
    with running(hello, **options) as srv, srv.client() as client:
        client.send(get_values(b"FCGI_MAX_CONNS", b"FCGI_MAX_REQS", b"FCGI_MPXS_CONNS"))
        rec = client.record()
    assert rec is not None
    assert rec.type == FCGI_GET_VALUES_RESULT
    assert dict(decode_params(rec.content, max_pairs=10, max_size=1000)) == expected


def test_unknown_management_record_gets_unknown_type(serve: Serve) -> None:
    with serve(hello) as srv, srv.client() as client:
        client.send(encode_record(42, 0, b"whatever"))
        rec = client.record()
        assert rec is not None
        assert (rec.type, rec.content) == (FCGI_UNKNOWN_TYPE, bytes([42]) + bytes(7))
        client.send(request())  # and the connection goes on
        assert client.response().body == b"Hello, /"


def test_authorizer_role_is_refused_and_the_connection_goes_on(serve: Serve) -> None:
    with serve(hello) as srv, srv.client() as client:
        client.send(begin(1, role=FCGI_AUTHORIZER) + params(1) + stdin(1))
        refused = client.response()
        assert refused.end == struct.pack("!LB3x", 0, FCGI_UNKNOWN_ROLE)
        assert refused.stdout == b""
        client.send(request(rid=2))
        assert client.response(2).body == b"Hello, /"


def test_abort_closes_the_app_iterator_of_a_streaming_response() -> None:
    closed = threading.Event()

    class Endless:
        def __init__(self) -> None:
            self.n = 0

        def __iter__(self) -> Endless:
            return self

        def __next__(self) -> bytes:
            self.n += 1
            time.sleep(0.005)
            return b"tick"

        def close(self) -> None:
            closed.set()

    def app(environ: Any, start_response: Any) -> Endless:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Endless()

    with running(app) as srv, srv.client() as client:
        client.send(request())
        first = client.record()
        assert first is not None
        assert first.type == FCGI_STDOUT
        client.send(encode_record(FCGI_ABORT_REQUEST, 1))
        resp = client.response()
        assert closed.wait(5)
        assert resp.end is not None
        client.send(request(rid=2))  # the connection is still good
        second = client.record()
        assert second is not None
        assert (second.rid, second.content[:14]) == (2, b"Status: 200 OK")


def test_abort_while_the_app_reads_the_body_ends_the_request_without_output() -> None:
    def reader(environ: Any, start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read(1 << 20)
        environ["wsgi.input"].read(1 << 20)  # blocks: the rest never comes
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"never"]

    with running(reader, prebuffer=0) as srv, srv.client() as client:
        client.send(begin(1) + params(1, REQUEST_METHOD="POST", CONTENT_LENGTH="10"))
        client.send(encode_record(FCGI_STDIN, 1, b"12345"))
        time.sleep(0.1)
        client.send(encode_record(FCGI_ABORT_REQUEST, 1))
        resp = client.response()
    assert resp.stdout == b""
    assert resp.end == struct.pack("!LB3x", 0, 0)


def test_web_server_closing_mid_response_closes_the_app_iterator() -> None:
    closed = threading.Event()

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            while True:
                time.sleep(0.005)
                yield b"tick"
        finally:
            closed.set()

    with running(app) as srv:
        with srv.client() as client:
            client.send(request())
            assert client.record() is not None
        assert closed.wait(5)


def test_stderr_fcgi_sends_wsgi_errors_as_stderr_records() -> None:
    def noisy(environ: Any, start_response: Any) -> list[bytes]:
        environ["wsgi.errors"].write("something odd\n")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with running(noisy, stderr="fcgi") as srv:
        resp = srv.exchange(request())
    assert resp.stderr == b"something odd\n"
    stderr = [r for r in resp.records if r.type == FCGI_STDERR]
    assert stderr[-1].content == b""  # the stream is closed before END_REQUEST


def test_stderr_fcgi_from_another_thread_goes_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    def noisy(environ: Any, start_response: Any) -> list[bytes]:
        writer = threading.Thread(target=environ["wsgi.errors"].write, args=("from a thread\n",))
        writer.start()
        writer.join()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with caplog.at_level(logging.ERROR, "wsgikit.error"), running(noisy, stderr="fcgi") as srv:
        resp = srv.exchange(request())
    assert resp.stderr == b""
    assert "from a thread" in caplog.text


def test_stderr_log_sends_wsgi_errors_to_the_error_log(caplog: pytest.LogCaptureFixture) -> None:
    def noisy(environ: Any, start_response: Any) -> list[bytes]:
        environ["wsgi.errors"].write("something odd\n")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with caplog.at_level(logging.ERROR, "wsgikit.error"), running(noisy) as srv:
        resp = srv.exchange(request())
    assert resp.stderr == b""
    assert "something odd" in caplog.text


def test_app_error_is_a_500_with_the_traceback_in_the_log(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(environ: Any, start_response: Any) -> list[bytes]:
        raise RuntimeError("kaboom")

    with caplog.at_level(logging.ERROR, "wsgikit.error"), serve(broken) as srv:
        resp = srv.exchange(request())
    assert resp.status == "Status: 500 Internal Server Error"
    assert b"kaboom" not in resp.stdout
    assert "RuntimeError: kaboom" in caplog.text


def test_app_error_after_the_head_cuts_the_connection_without_end_request() -> None:
    def half(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"half"
        raise RuntimeError("kaboom")

    with running(half) as srv, srv.client() as client:
        client.send(request())
        kinds = []
        while (rec := client.record()) is not None:
            kinds.append(rec.type)
    assert FCGI_STDOUT in kinds
    assert FCGI_END_REQUEST not in kinds


def test_https_on_sets_the_url_scheme(serve: Serve) -> None:
    with serve(show("wsgi.url_scheme", "REQUEST_URI")) as srv:
        resp = srv.exchange(request(HTTPS="on", REQUEST_URI="/a%20b?q=1"))
    assert resp.body == b"https|/a%20b?q=1"


def test_script_name_option_mounts_the_app(serve: Serve) -> None:
    # nginx's stock fastcgi_params: the whole path in SCRIPT_NAME, no PATH_INFO.
    stock = params(1, SCRIPT_NAME="/app/x y", PATH_INFO="-", REQUEST_URI="/app/x%20y?q")
    with serve(show("SCRIPT_NAME", "PATH_INFO"), script_name="/app") as srv:
        resp = srv.exchange(begin(1) + stock + stdin(1))
    assert resp.body == b"/app|/x y"


# -- hostile input -------------------------------------------------------------------------------


def huge_name_value() -> bytes:
    pair = struct.pack("!LB", 0x80000000 | 0x7FFFFFFF, 1) + b"x"  # 2 GiB name
    return begin(1) + encode_record(FCGI_PARAMS, 1, pair) + encode_record(FCGI_PARAMS, 1)


def past_the_record() -> bytes:
    pair = bytes([10, 1]) + b"abc"  # says 10 + 1 bytes, has 3
    return begin(1) + encode_record(FCGI_PARAMS, 1, pair) + encode_record(FCGI_PARAMS, 1)


HOSTILE = [
    pytest.param(b"\x02" + request()[1:], "version", id="wrong-version"),
    pytest.param(huge_name_value(), "exceeds the limit", id="name-length-overflow"),
    pytest.param(past_the_record(), "past the data", id="lengths-past-the-record"),
    pytest.param(begin(1) + params(1, **{f"X{i}": "v" for i in range(20)}), "pairs", id="params"),
    pytest.param(encode_record(FCGI_STDOUT, 1, b"hi"), "sent by applications", id="stdout-in"),
    pytest.param(encode_record(99, 1, b""), "unknown FastCGI record type", id="unknown-type-id"),
    pytest.param(begin(1) + stdin(1, b"x"), "before FCGI_PARAMS ended", id="stdin-before-params"),
    pytest.param(begin(1) + begin(1), "already active", id="begin-twice"),
]


@pytest.mark.parametrize(("data", "message"), HOSTILE)
def test_hostile_input_drops_the_connection_with_a_log_line(
    serve: Serve, caplog: pytest.LogCaptureFixture, data: bytes, message: str
) -> None:
    with caplog.at_level(logging.WARNING, "wsgikit.error"), serve(hello, max_params=10) as srv:
        with srv.client() as client:
            client.send(data)
            assert client.closed()
        assert srv.exchange(request()).body == b"Hello, /"  # the process lives
    assert "dropping the FastCGI connection" in caplog.text
    assert message in caplog.text


def test_records_for_an_unknown_request_id_are_ignored(serve: Serve) -> None:
    # Spec §3.3: records for an inactive id are ignored; the connection goes on.
    with serve(hello) as srv, srv.client() as client:
        client.send(stdin(7, b"stray") + request())
        assert client.response().body == b"Hello, /"


def test_truncated_record_then_eof_leaves_the_server_running(serve: Serve) -> None:
    with serve(hello) as srv:
        with srv.client() as client:
            client.send(request()[:13])
        assert srv.exchange(request()).body == b"Hello, /"


def test_truncated_body_then_eof_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "wsgikit.error"), running(echo, prebuffer=0) as srv:
        with srv.client() as client:
            client.send(begin(1) + params(1, REQUEST_METHOD="POST", CONTENT_LENGTH="100"))
            client.send(encode_record(FCGI_STDIN, 1, b"only this"))
            time.sleep(0.1)
        assert srv.exchange(request()).status == "Status: 200 OK"  # the process lives
    assert "in the middle of the body" in caplog.text


def test_partial_request_times_out_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, "wsgikit.error"),
        running(hello, header_timeout=0.2) as srv,
    ):
        with srv.client() as client:
            client.send(begin(1))
            assert client.closed()
    assert "request not received in time" in caplog.text


class _Errors(logging.Handler):
    """Collects "internal error" records: an exception that escaped the connection's code."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "internal error" in record.getMessage():
            self.found.append(self.format(record))


@pytest.fixture(scope="module")
def fuzz_target() -> Iterator[tuple[Running, _Errors]]:
    errors = _Errors()
    logger = logging.getLogger("wsgikit.error")
    logger.addHandler(errors)
    try:
        with running(echo, validate=False, max_requests=2, max_params=20) as srv:
            yield srv, errors
    finally:
        logger.removeHandler(errors)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(sessions(), st.lists(st.binary(max_size=64), max_size=4)))
def test_any_records_leave_the_server_serving(
    fuzz_target: tuple[Running, _Errors], chunks: list[bytes]
) -> None:
    srv, errors = fuzz_target
    with srv.client() as client:
        client.send(b"".join(chunks))
        client.sock.shutdown(socket.SHUT_WR)
        while client.sock.recv(65536):  # the server answers what it can, then closes
            pass
    assert srv.exchange(request(body=b"ok")).body == b"ok"
    assert not errors.found


# -- construction and fd 0 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"stderr": "syslog"}, id="stderr"),
        pytest.param({"script_name": "app"}, id="script-name-without-slash"),
        pytest.param({"max_requests": 0}, id="max-requests"),
        pytest.param({"max_params": -1}, id="max-params"),
    ],
)
def test_bad_options_raise_value_error(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FastCGIServer(hello, ["127.0.0.1:0"], **options)


def test_no_bind_and_no_socket_on_fd_0_is_a_bind_error() -> None:
    with pytest.raises(BindError, match="fd 0"):
        FastCGIServer(hello, [])


CHILD = """
import logging, sys
from wsgiref.validate import validator
from wsgikit.servers.fastcgi import serve_fcgi
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"from fd 0"]
serve_fcgi(validator(app), threads=1)
"""


def test_inherited_listening_socket_on_fd_0_and_sigterm() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    address = listener.getsockname()
    with listener:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=listener.fileno(),
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
    try:
        with socket.create_connection(address, timeout=10) as sock:
            client = Client(sock)
            client.send(request())
            assert client.response().body == b"from fd 0"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()
    assert b"received SIGTERM" in err
