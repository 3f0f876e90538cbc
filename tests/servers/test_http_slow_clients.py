"""Slow clients. Those that read their answer slowly, or not at all, cost memory up to
``write_buffer`` and a socket, never a worker thread or the inline loop; ``write_timeout`` ends
those that stall. With ``buffer_bodies`` slow uploads hold no thread either."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.helpers import Running, only_connection, running, slow_reader, wait_for
from tests.servers.test_http import responses
from wsgikit.servers._connection import WRITE

MIB = 1 << 20
# The most a socket's send buffer grows to here: beyond it, bytes wait in the server.
SEND_BUFFER_MAX = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
BIG = bytes(range(256)) * (max(16 * MIB, 4 * SEND_BUFFER_MAX) // 256)


def app(environ: Any, start_response: Any) -> list[bytes]:
    path = environ["PATH_INFO"]
    body = BIG if path == "/big" else BIG[:4096] if path == "/4k" else b"ok"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _read_answer(sock: socket.socket, body_size: int) -> bytes:
    """Read one whole response with a ``body_size`` body (and nothing after it)."""
    data = bytearray()
    while b"\r\n\r\n" not in data[:4096] or len(data) < data.index(b"\r\n\r\n") + 4 + body_size:
        chunk = sock.recv(MIB)
        assert chunk, f"closed after {len(data)} bytes"
        data += chunk
    return bytes(data)


@pytest.mark.parametrize(
    "threads", [pytest.param(1, id="one-thread"), pytest.param(0, id="inline")]
)
def test_a_client_that_does_not_read_holds_no_thread_and_not_the_loop(threads: int) -> None:
    with running(app, threads=threads, write_buffer=32 * MIB) as srv, slow_reader(srv) as slow:
        slow.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        conn = only_connection(srv)
        assert wait_for(lambda: conn.unsent_size > 0)  # the socket is full: the loop has the rest
        started = time.monotonic()
        answer = srv.request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert responses(answer) == [(200, b"ok")]
        assert time.monotonic() - started < 2.0
        # The slow client still gets every byte, in order, and its connection lives on.
        assert responses(_read_answer(slow, len(BIG))) == [(200, BIG)]
        slow.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
        assert responses(_read_answer(slow, 2)) == [(200, b"ok")]


@pytest.mark.parametrize(
    "threads", [pytest.param(1, id="one-thread"), pytest.param(0, id="inline")]
)
def test_pipelined_answers_to_a_slow_client_keep_their_order_and_close(threads: int) -> None:
    with running(app, threads=threads, write_buffer=32 * MIB) as srv, slow_reader(srv) as slow:
        slow.sendall(
            b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        conn = only_connection(srv)
        assert wait_for(lambda: conn.unsent_size > 0)
        time.sleep(0.2)  # the server is done with both; the close waits for the bytes
        data = bytearray()
        while chunk := slow.recv(MIB):
            data += chunk
    assert responses(bytes(data)) == [(200, BIG), (200, b"ok")]


def test_a_streaming_app_is_paused_while_its_client_does_not_read() -> None:
    produced: list[int] = []
    chunk = BIG[: 64 * 1024]

    def streaming(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        for _ in range(len(BIG) // len(chunk)):
            produced.append(len(chunk))
            yield chunk

    with running(streaming, threads=1, write_buffer=MIB) as srv, slow_reader(srv) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        conn = only_connection(srv)
        assert wait_for(lambda: conn.unsent_size > 0)
        time.sleep(0.5)
        # The app waits: it made what the kernel buffers plus write_buffer, and a chunk or two.
        assert MIB < sum(produced) <= SEND_BUFFER_MAX + 2 * MIB
        data = bytearray()
        while not data.endswith(b"\r\n0\r\n\r\n"):
            data += slow.recv(MIB)
    assert sum(produced) == len(BIG)
    assert responses(bytes(data)) == [(200, BIG)]


@pytest.mark.parametrize(
    "threads", [pytest.param(1, id="one-thread"), pytest.param(0, id="inline")]
)
def test_a_client_that_stops_reading_is_closed_after_the_write_timeout(threads: int) -> None:
    with (
        running(app, threads=threads, write_buffer=32 * MIB, write_timeout=0.3) as srv,
        slow_reader(srv) as slow,
    ):
        slow.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        conn = only_connection(srv)
        assert wait_for(lambda: conn.unsent_size > 0)
        assert wait_for(lambda: not srv.server.conns, timeout=5.0)
        assert responses(srv.request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))


def digest(environ: Any, start_response: Any) -> list[bytes]:
    """Answers the size and SHA-256 of the request body."""
    hasher = hashlib.sha256()
    size = 0
    while chunk := environ["wsgi.input"].read(65536):
        hasher.update(chunk)
        size += len(chunk)
    body = b"%d %s" % (size, hasher.hexdigest().encode())
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.mark.parametrize(
    "size", [pytest.param(200_000, id="in-memory"), pytest.param(3 * MIB, id="spooled")]
)
def test_buffered_bodies_let_a_slow_upload_hold_no_thread(size: int) -> None:
    upload = BIG[:size]
    with running(digest, threads=1, buffer_bodies=True) as srv, srv.connect() as slow:
        slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        slow.sendall(upload[: size - 10])  # more than prebuffer; the rest comes later
        time.sleep(0.2)
        started = time.monotonic()
        answer = srv.request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert time.monotonic() - started < 2.0  # the only worker was free
        assert responses(answer) == [(200, b"0 " + hashlib.sha256(b"").hexdigest().encode())]
        slow.sendall(upload[size - 10 :])
        expected = b"%d %s" % (size, hashlib.sha256(upload).hexdigest().encode())
        assert responses(_read_answer(slow, len(expected))) == [(200, expected)]


def test_buffered_bodies_answer_100_continue_as_the_head_arrives() -> None:
    # The app never reads the body: unbuffered, no 100 would come (the client would wait for
    # the answer); buffered, the loop wants the body before the app runs, so it asks at once.
    with running(app, threads=1, buffer_bodies=True) as srv, srv.connect() as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"data")
        assert responses(_read_answer(sock, 2)) == [(200, b"ok")]


# -- clients that do not read, with the default write_buffer (1 MiB) ------------------------------


def _stream_app(produced: list[int]) -> Any:
    chunk = BIG[: 64 * 1024]

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        if environ["PATH_INFO"] != "/stream":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            yield b"ok"
            return
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        for _ in range(len(BIG) // len(chunk)):
            produced.append(len(chunk))
            yield chunk

    return app


def _file_app(path: Path) -> Any:
    def app(environ: Any, start_response: Any) -> Any:
        if environ["PATH_INFO"] != "/file":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](path.open("rb"))

    return app


def _others_are_served(srv: Running) -> None:
    started = time.monotonic()
    answer = srv.request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert responses(answer) == [(200, b"ok")]
    assert time.monotonic() - started < 2.0


def test_inline_a_big_answer_to_a_client_that_does_not_read_holds_not_the_loop() -> None:
    with running(app, threads=0) as srv, slow_reader(srv) as slow:
        slow.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        conn = only_connection(srv)
        assert wait_for(lambda: conn.unsent_size > 0)
        _others_are_served(srv)
        assert responses(_read_answer(slow, len(BIG))) == [(200, BIG)]


def test_inline_a_stream_to_a_client_that_does_not_read_is_paused_not_the_loop() -> None:
    produced: list[int] = []
    with running(_stream_app(produced), threads=0) as srv, slow_reader(srv) as slow:
        slow.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        conn = only_connection(srv)
        assert wait_for(lambda: conn.unsent_size > 0)
        _others_are_served(srv)
        time.sleep(0.3)
        assert MIB < sum(produced) <= SEND_BUFFER_MAX + 2 * MIB  # paused, not run to the end
        data = bytearray()
        while not data.endswith(b"\r\n0\r\n\r\n"):
            chunk = slow.recv(MIB)
            assert chunk, f"closed after {len(data)} bytes"
            data += chunk
    assert sum(produced) == len(BIG)
    assert responses(bytes(data)) == [(200, BIG)]


def test_inline_a_file_to_a_client_that_does_not_read_holds_not_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(BIG)
    with running(_file_app(path), threads=0, validate=False) as srv, slow_reader(srv) as slow:
        slow.sendall(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
        conn = only_connection(srv)
        assert wait_for(lambda: conn.state == WRITE)
        _others_are_served(srv)
        assert responses(_read_answer(slow, len(BIG))) == [(200, BIG)]


@pytest.mark.parametrize(
    "threads", [pytest.param(1, id="one-thread"), pytest.param(0, id="inline")]
)
def test_thousands_of_pipelined_requests_without_reading_hold_nothing(threads: int) -> None:
    count = 3000  # 12 MB of answers: more than the kernel buffers, and than write_buffer
    pipeline = b"GET /4k HTTP/1.1\r\nHost: x\r\n\r\n" * count
    with running(app, threads=threads, write_buffer=64 * 1024) as srv, slow_reader(srv) as slow:
        slow.sendall(pipeline)
        conn = only_connection(srv)
        assert wait_for(lambda: conn.state == WRITE)  # answers wait; the rest are not served
        _others_are_served(srv)
        slow.sendall(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = bytearray()
        while chunk := slow.recv(MIB):
            data += chunk
    assert responses(bytes(data)) == [(200, BIG[:4096])] * count + [(200, b"ok")]
