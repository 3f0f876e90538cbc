"""The FastCGI server over raw sockets: keep-conn, multiplexing, management records, abort, hostile
input, stdin streaming, stdout framing, wsgi.errors routing, mount points and fd 0 inheritance.

Every app runs under wsgiref.validate on the server side; a small client below speaks FastCGI.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers.apps import echo, hello, show
from tests.servers.fastcgi_helpers import Serve, running
from tests.servers.fcgi_client import begin, params, request, stdin
from wsgikit._fcgi import (
    FCGI_ABORT_REQUEST,
    FCGI_AUTHORIZER,
    FCGI_END_REQUEST,
    FCGI_GET_VALUES,
    FCGI_GET_VALUES_RESULT,
    FCGI_STDERR,
    FCGI_STDIN,
    FCGI_STDOUT,
    FCGI_UNKNOWN_ROLE,
    FCGI_UNKNOWN_TYPE,
    decode_params,
    encode_params,
    encode_record,
)


def test_get(fcgi_serve: Serve) -> None:
    with fcgi_serve(hello) as srv:
        resp = srv.exchange(request(PATH_INFO="/world"))
    assert resp.status == "Status: 200 OK"
    assert resp.body == b"Hello, /world"
    assert resp.end == struct.pack("!LB3x", 0, 0)  # appStatus 0, FCGI_REQUEST_COMPLETE


def test_stdout_stream_is_closed_before_end_request(fcgi_serve: Serve) -> None:
    with fcgi_serve(hello) as srv:
        resp = srv.exchange(request())
    kinds = [(r.type, len(r.content)) for r in resp.records]
    assert kinds[-2:] == [(FCGI_STDOUT, 0), (FCGI_END_REQUEST, 8)]


def test_keep_conn_serves_several_requests_on_one_connection(fcgi_serve: Serve) -> None:
    with fcgi_serve(hello) as srv, srv.client() as client:
        for path in ("/a", "/b", "/c"):
            client.send(request(PATH_INFO=path))
            assert client.response().body == b"Hello, " + path.encode()


def test_without_keep_conn_the_server_closes_after_end_request(fcgi_serve: Serve) -> None:
    with fcgi_serve(hello) as srv, srv.client() as client:
        client.send(request(keep=False))
        assert client.response().body == b"Hello, /"
        assert client.closed()


def test_post_body_reaches_the_app(fcgi_serve: Serve) -> None:
    body = os.urandom(300_000)
    with fcgi_serve(echo) as srv:
        resp = srv.exchange(request(body=body))
    assert resp.body == body


def test_absurd_content_length_is_ignored_and_the_stdin_stream_ends_the_body(
    fcgi_serve: Serve,
) -> None:
    huge = params(1, REQUEST_METHOD="POST", CONTENT_LENGTH="9" * 5000)
    with fcgi_serve(echo) as srv:
        resp = srv.exchange(begin(1) + huge + stdin(1, b"abc"))
    assert resp.body == b"abc"


def test_body_without_content_length_ends_with_the_stdin_stream(fcgi_serve: Serve) -> None:
    with fcgi_serve(echo) as srv:
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

    with running(first_read, buffer_bodies=False, prebuffer=0) as srv, srv.client() as client:
        client.send(request(body=b"x" * 10)[:-8])  # withhold the empty STDIN record
        assert seen.wait(5)  # the app read while the body was still open
        client.send(encode_record(FCGI_STDIN, 1))
        assert client.response().body == b"xxxxx|done"


def test_stdout_records_are_at_most_65535_bytes_and_padded_to_8(fcgi_serve: Serve) -> None:
    size = 200_003

    def big(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"z" * size]

    with fcgi_serve(big) as srv:
        resp = srv.exchange(request())
    stdout = [r for r in resp.records if r.type == FCGI_STDOUT]
    assert all(len(r.content) <= 65535 for r in stdout)
    assert all((len(r.content) + r.padding) % 8 == 0 for r in stdout)
    assert resp.body == b"z" * size


def test_streamed_response_arrives_in_order(fcgi_serve: Serve) -> None:
    def parts(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for i in range(50):
            yield b"part%d;" % i

    with fcgi_serve(parts) as srv:
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
def test_ready_made_bodies_go_out_with_end_request(fcgi_serve: Serve, body: Any) -> None:
    # Not validated: wsgiref.validate wraps every body in an iterator, hiding the list.
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    with fcgi_serve(app, validate=False) as srv, srv.client() as client:
        for _ in range(2):
            client.send(request())
            resp = client.response()
            assert resp.body == b"".join(body)
            assert resp.status == "Status: 200 OK"


def test_multiplexed_requests_are_each_answered_with_their_id(fcgi_serve: Serve) -> None:
    with fcgi_serve(hello) as srv, srv.client() as client:
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


def test_unknown_management_record_gets_unknown_type(fcgi_serve: Serve) -> None:
    with fcgi_serve(hello) as srv, srv.client() as client:
        client.send(encode_record(42, 0, b"whatever"))
        rec = client.record()
        assert rec is not None
        assert (rec.type, rec.content) == (FCGI_UNKNOWN_TYPE, bytes([42]) + bytes(7))
        client.send(request())  # and the connection goes on
        assert client.response().body == b"Hello, /"


def test_authorizer_role_is_refused_and_the_connection_goes_on(fcgi_serve: Serve) -> None:
    with fcgi_serve(hello) as srv, srv.client() as client:
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

    with running(reader, buffer_bodies=False, prebuffer=0) as srv, srv.client() as client:
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
    fcgi_serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(environ: Any, start_response: Any) -> list[bytes]:
        raise RuntimeError("kaboom")

    with caplog.at_level(logging.ERROR, "wsgikit.error"), fcgi_serve(broken) as srv:
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


def test_https_on_sets_the_url_scheme(fcgi_serve: Serve) -> None:
    with fcgi_serve(show("wsgi.url_scheme", "REQUEST_URI")) as srv:
        resp = srv.exchange(request(HTTPS="on", REQUEST_URI="/a%20b?q=1"))
    assert resp.body == b"https|/a%20b?q=1"


def test_script_name_option_mounts_the_app(fcgi_serve: Serve) -> None:
    # nginx's stock fastcgi_params: the whole path in SCRIPT_NAME, no PATH_INFO.
    stock = params(1, SCRIPT_NAME="/app/x y", PATH_INFO="-", REQUEST_URI="/app/x%20y?q")
    with fcgi_serve(show("SCRIPT_NAME", "PATH_INFO"), script_name="/app") as srv:
        resp = srv.exchange(begin(1) + stock + stdin(1))
    assert resp.body == b"/app|/x y"
