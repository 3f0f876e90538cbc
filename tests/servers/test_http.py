"""The HTTP server over real sockets: keep-alive, pipelining, bodies, errors, timeouts."""

from __future__ import annotations

import http.client
import io
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.servers.apps import echo, hello
from tests.servers.helpers import read_all, running
from wsgikit.servers.http import Server

Serve = Callable[..., Any]


def streaming(environ: Any, start_response: Any) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(3):
        yield b"part%d;" % i


class _Stream(io.BytesIO):
    def close(self) -> None:  # http.client closes its file after each response; keep reading
        pass


class _Source:
    def __init__(self, raw: bytes) -> None:
        self.file = _Stream(raw)

    def makefile(self, mode: str) -> _Stream:
        return self.file


def responses(raw: bytes) -> list[tuple[int, bytes]]:
    """Split a byte stream of responses (any framing) into (status, body), as a client would."""
    source = _Source(raw)
    out = []
    while source.file.tell() < len(raw):
        resp = http.client.HTTPResponse(source)  # type: ignore[arg-type]
        resp.begin()
        out.append((resp.status, resp.read()))
    return out


def test_get(serve: Serve) -> None:
    with serve(hello) as srv:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
        conn.request("GET", "/world")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.read() == b"Hello, /world"
        assert resp.getheader("Server") == "wsgikit"
        assert resp.getheader("Date")
        conn.close()


def test_keep_alive_reuses_the_connection(serve: Serve) -> None:
    with serve(hello) as srv:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
        for path in ("/a", "/b", "/c"):
            conn.request("GET", path)
            assert conn.getresponse().read() == b"Hello, " + path.encode()
        assert conn.sock is not None  # still the same, never reconnected
        conn.close()


def test_pipelined_requests_answered_in_order(serve: Serve) -> None:
    with serve(hello) as srv:
        raw = b"".join(
            b"GET /%d HTTP/1.1\r\nHost: x\r\n%s\r\n"
            % (i, b"Connection: close\r\n" if i == 4 else b"")
            for i in range(5)
        )
        got = responses(srv.request(raw))
        assert got == [(200, b"Hello, /%d" % i) for i in range(5)]


def test_http10_closes_by_default(serve: Serve) -> None:
    with serve(hello) as srv:
        raw = srv.request(b"GET /old HTTP/1.0\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
        assert raw.endswith(b"Hello, /old")


def test_http10_keep_alive(serve: Serve) -> None:
    with serve(hello) as srv, srv.connect() as sock:
        sock.sendall(b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        first = sock.recv(65536)
        assert b"Connection: keep-alive" in first
        sock.sendall(b"GET /2 HTTP/1.0\r\n\r\n")
        rest = read_all(sock)
        assert rest.endswith(b"Hello, /2")


def test_head_has_no_body(serve: Serve) -> None:
    with serve(hello) as srv:
        raw = srv.request(b"HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        assert b"Content-Length: 9" in head
        assert body == b""


def test_content_length_body(serve: Serve) -> None:
    with serve(echo) as srv:
        raw = srv.request(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        )
        assert responses(raw) == [(200, b"hello")]


def test_chunked_request_body(serve: Serve) -> None:
    with serve(echo) as srv:
        raw = srv.request(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-A: x\r\n\r\n"
        )
        assert responses(raw) == [(200, b"hello world")]


def test_chunked_response(serve: Serve) -> None:
    with serve(streaming) as srv:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert resp.getheader("Transfer-Encoding") == "chunked"
        assert resp.read() == b"part0;part1;part2;"
        conn.close()


def test_body_not_read_by_app_is_skipped_for_next_request(serve: Serve) -> None:
    with serve(hello) as srv:
        raw = srv.request(
            b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"
            b"GET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        assert responses(raw) == [(200, b"Hello, /a"), (200, b"Hello, /b")]


def test_expect_100_continue_not_sent_when_streaming_app_does_not_read() -> None:
    with running(hello, threads=2, buffer_bodies=False) as srv, srv.connect() as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        raw = read_all(sock)  # the server answers and closes: it never asked for the body
        assert raw.startswith(b"HTTP/1.1 200 OK")
        assert b"Connection: close" in raw  # the client may still send the body: say so
        assert b"100 Continue" not in raw


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"threads": 2}, id="threads"),  # the loop reads the body: 100 at once
        pytest.param({"threads": 0}, id="inline"),
        pytest.param({"threads": 2, "buffer_bodies": False}, id="stream"),  # on the app's read
    ],
)
def test_expect_100_continue_is_answered_when_the_body_is_wanted(options: dict[str, Any]) -> None:
    with running(echo, **options) as srv, srv.connect() as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"data")
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert head.endswith(b"data")


def test_expect_100_continue_comes_after_the_answers_to_earlier_requests() -> None:
    with running(echo, threads=2) as srv, srv.connect() as sock:
        sock.sendall(
            b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\none"
            b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        seen = b""
        while b"100 Continue" not in seen:
            data = sock.recv(65536)
            assert data, "closed before the 100"
            seen += data
        first = seen.index(b"HTTP/1.1 200 OK")
        assert first < seen.index(b"100 Continue")
        assert seen[first:].split(b"\r\n\r\n", 1)[1].startswith(b"one")
        sock.sendall(b"two")
        assert sock.recv(65536).endswith(b"two")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="missing-host"),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            400,
            id="cl-and-te",
        ),
        pytest.param(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, id="version"),
        pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414, id="long-uri"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-Big: " + b"b" * 70000 + b"\r\n\r\n",
            431,
            id="big-headers",
        ),
    ],
)
def test_protocol_errors_answered_and_closed(serve: Serve, raw: bytes, status: int) -> None:
    with serve(hello) as srv:
        answer = srv.request(raw + b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 %d " % status)
        assert b"Connection: close" in answer
        assert b"smuggled" not in answer


def test_body_limit_413(serve: Serve) -> None:
    from wsgikit.servers.http import Limits

    with serve(echo, limits=Limits(max_body_size=10)) as srv:
        raw = srv.request(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n01234567890")
        assert raw.startswith(b"HTTP/1.1 413 ")


def test_a_server_without_limits_refuses_a_body_over_1_gib(serve: Serve) -> None:
    with serve(echo) as srv:  # the head alone: Content-Length is checked before the body
        raw = srv.request(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741825\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 413 ")


def test_chunked_body_over_limit_413() -> None:
    from wsgikit.servers.http import Limits

    with running(
        echo, threads=2, limits=Limits(max_body_size=10), buffer_bodies=False, prebuffer=0
    ) as srv:
        raw = srv.request(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n"
        )
        assert raw.startswith(b"HTTP/1.1 413 ")


def test_app_error_is_500_and_server_lives(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    def broken(environ: Any, start_response: Any) -> list[bytes]:
        raise RuntimeError("app bug")

    with serve(broken) as srv:
        for _ in range(3):
            raw = srv.request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert raw.startswith(b"HTTP/1.1 500 ")
    assert "app bug" in caplog.text


def test_error_after_headers_closes_connection(serve: Serve) -> None:
    def half(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        raise RuntimeError("late failure")

    with serve(half) as srv:
        raw = srv.request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")  # returns only at close
        assert raw.startswith(b"HTTP/1.1 200 OK")
        assert b"partial" in raw
        assert not raw.endswith(b"0\r\n\r\n")


def test_client_disconnect_closes_app_iterator() -> None:
    closed = threading.Event()

    class Endless:
        def __iter__(self) -> Iterator[bytes]:
            while True:
                yield b"x" * 65536

        def close(self) -> None:
            closed.set()

    def app(environ: Any, start_response: Any) -> Endless:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Endless()

    with running(app, threads=2, validate=False) as srv:
        sock = srv.connect()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        sock.recv(1000)
        sock.close()
        assert closed.wait(10)


def test_slow_header_client_times_out_while_others_are_served() -> None:
    with running(hello, threads=2, header_timeout=0.5) as srv:
        slow = srv.connect()
        slow.sendall(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        for _ in range(5):
            assert srv.request(b"GET /fast HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        answer = read_all(slow)
        slow.close()
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 5


def test_trickling_headers_do_not_extend_the_timeout() -> None:
    with running(hello, threads=2, header_timeout=0.6) as srv, srv.connect() as sock:
        started = time.monotonic()
        # A trickle of 16 s at most; the 408 comes after 0.6 s plus a sweep (a busy machine
        # may add seconds, never the whole trickle).
        for byte in b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"1" * 300:
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.05)
            if time.monotonic() - started > 16:
                break
        answer = read_all(sock)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 10


def test_idle_keep_alive_times_out() -> None:
    with running(hello, threads=2, idle_timeout=0.3) as srv, srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert read_all(sock) == b""  # closed without a word
        assert time.monotonic() - started < 3


def test_access_log(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="wsgikit.access"), serve(hello) as srv:
        srv.request(
            b"GET /logged?q=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: tester\r\n"
            b"Connection: close\r\n\r\n"
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "wsgikit.access"]
    assert len(lines) == 1
    assert '"GET /logged?q=1 HTTP/1.1" 200 14 "-" "tester"' in lines[0]
    assert lines[0].startswith("127.0.0.1 - - [")


def test_server_header_off() -> None:
    with running(hello, server_header=None) as srv:
        raw = srv.request(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert b"Server:" not in raw


def test_file_wrapper_is_sent(serve: Serve, tmp_path: Any) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(300_000))

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    with serve(app) as srv:
        raw = srv.request(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert responses(raw) == [(200, path.read_bytes())]


def test_unix_socket_bind(tmp_path: Any) -> None:
    path = str(tmp_path / "s.sock")
    server = Server(hello, [f"unix:{path}"], threads=1, unix_mode=0o600)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(b"GET /u HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            assert read_all(sock).endswith(b"Hello, /u")
    finally:
        server.stop()
        thread.join(10)
    assert not os.path.exists(path)


def test_ipv6_and_several_binds() -> None:
    if not socket.has_ipv6:
        pytest.fail("this machine has no IPv6 loopback")
    server = Server(hello, ["127.0.0.1:0", "[::1]:0"], threads=1)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        v4, v6 = server.addresses
        for family, address in ((socket.AF_INET, v4[:2]), (socket.AF_INET6, v6[:2])):
            with socket.socket(family) as sock:
                sock.settimeout(5)
                sock.connect(address)
                sock.sendall(b"GET /6 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                assert read_all(sock).endswith(b"Hello, /6")
    finally:
        server.stop()
        thread.join(10)


def test_inherited_fd() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    server = Server(hello, [f"fd://{listener.detach()}"], threads=1)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /fd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            assert read_all(sock).endswith(b"Hello, /fd")
    finally:
        server.stop()
        thread.join(10)


def test_bad_bind_is_a_clear_error() -> None:
    from wsgikit.servers._listen import BindError

    with pytest.raises(BindError, match="'nonsense:port'"):
        Server(hello, ["nonsense:port"])


def test_graceful_stop_finishes_in_flight_request() -> None:
    entered = threading.Event()

    def slow(environ: Any, start_response: Any) -> list[bytes]:
        entered.set()
        time.sleep(0.5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"finished"]

    server = Server(slow, ["127.0.0.1:0"], threads=2)
    port = server.addresses[0][1]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert entered.wait(5)
        server.stop()
        raw = read_all(sock)
    thread.join(10)
    assert not thread.is_alive()
    assert raw.endswith(b"finished")  # answered whole, then the connection was closed


def test_validator_sees_a_correct_server(serve: Serve) -> None:
    # running() wraps every app in wsgiref.validate: a server-side violation fails the request.
    with serve(streaming) as srv:
        raw = srv.request(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 200 OK")
