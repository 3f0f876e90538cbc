"""The FastCGI server against hostile input (the connection dropped with a log line, the
process serving on), and its construction: options, binds, the listening socket on fd 0."""

from __future__ import annotations

import logging
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers.apps import echo, hello
from tests.servers.fastcgi_helpers import (
    ROOT,
    Running,
    Serve,
    running,
)
from tests.servers.fcgi_client import Client, begin, params, request, stdin
from tests.servers.helpers import InternalErrors
from tests.test_fcgi_scgi_props import sessions
from wsgikit._fcgi import (
    FCGI_PARAMS,
    FCGI_STDIN,
    FCGI_STDOUT,
    encode_record,
)
from wsgikit.servers._listen import BindError
from wsgikit.servers.fastcgi import FastCGIServer

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
    fcgi_serve: Serve, caplog: pytest.LogCaptureFixture, data: bytes, message: str
) -> None:
    with caplog.at_level(logging.WARNING, "wsgikit.error"), fcgi_serve(hello, max_params=10) as srv:
        with srv.client() as client:
            client.send(data)
            assert client.closed()
        assert srv.exchange(request()).body == b"Hello, /"  # the process lives
    assert "dropping the FastCGI connection" in caplog.text
    assert message in caplog.text


def test_records_for_an_unknown_request_id_are_ignored(fcgi_serve: Serve) -> None:
    # Spec §3.3: records for an inactive id are ignored; the connection goes on.
    with fcgi_serve(hello) as srv, srv.client() as client:
        client.send(stdin(7, b"stray") + request())
        assert client.response().body == b"Hello, /"


def test_truncated_record_then_eof_leaves_the_server_running(fcgi_serve: Serve) -> None:
    with fcgi_serve(hello) as srv:
        with srv.client() as client:
            client.send(request()[:13])
        assert srv.exchange(request()).body == b"Hello, /"


def test_truncated_body_then_eof_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, "wsgikit.error"),
        running(echo, buffer_bodies=False, prebuffer=0) as srv,
    ):
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


@pytest.fixture(scope="module")
def fuzz_target() -> Iterator[tuple[Running, InternalErrors]]:
    with (
        InternalErrors() as errors,
        running(echo, validate=False, max_requests=2, max_params=20) as srv,
    ):
        yield srv, errors


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(sessions(), st.lists(st.binary(max_size=64), max_size=4)))
def test_any_records_leave_the_server_serving(
    fuzz_target: tuple[Running, InternalErrors], chunks: list[bytes]
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
