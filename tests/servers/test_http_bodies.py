"""Request bodies on the HTTP server: read whole on the loop (the default, and inline), or
streamed to the app; what an unread body does to the connection; bodies known to be broken;
the memory that waiting bodies may take."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import threading
import time
from typing import Any

import pytest

from tests.servers.apps import hello
from tests.servers.helpers import read_all, running, wait_for
from tests.servers.test_http import responses

MODES = [
    pytest.param({"threads": 2}, id="threads"),
    pytest.param({"threads": 0}, id="inline"),
    pytest.param({"threads": 2, "buffer_bodies": False}, id="stream"),
]
BUFFERED = MODES[:2]


def digest(environ: Any, start_response: Any) -> list[bytes]:
    """What a Django-style app sees: one read(CONTENT_LENGTH), nothing without it."""
    length = environ.get("CONTENT_LENGTH")
    data = environ["wsgi.input"].read(int(length)) if length else b""
    body = json.dumps(
        {"length": length, "got": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def head_of(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def recv_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body, read from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"closed after {data!r}"
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        more = sock.recv(65536)
        assert more, "closed in the body"
        body += more
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize("mode", BUFFERED)
def test_chunked_body_reaches_a_content_length_reader_whole(mode: dict[str, Any]) -> None:
    body = bytes(range(256)) * 1200  # 300 KB: spooled to a file on the way
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:1000], body[1000:]))
    with running(digest, **mode) as srv:
        raw = srv.request(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n" + chunks + b"0\r\n\r\n"
        )
    got = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert got == {
        "length": str(len(body)),
        "got": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


@pytest.mark.parametrize("mode", BUFFERED)
def test_unread_body_keeps_the_connection(mode: dict[str, Any]) -> None:
    body = b"x" * 300_000  # more than the server would ever drain from a socket
    with running(hello, **mode) as srv, srv.connect() as sock:
        sock.sendall(b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body))
        sock.sendall(body)
        first = recv_response(sock)
        sock.sendall(b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        second = recv_response(sock)
    assert b"Connection: close" not in head_of(first)
    assert responses(first + second) == [(200, b"Hello, /a"), (200, b"Hello, /b")]


def test_streamed_body_left_unread_is_announced_before_closing() -> None:
    with running(hello, threads=2, buffer_bodies=False) as srv, srv.connect() as sock:
        sock.sendall(b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5000000\r\n\r\n")
        sock.sendall(b"y" * 100_000)  # the app answers without reading; 4.9 MB would follow
        raw = read_all(sock)
    assert b"Connection: close" in head_of(raw)
    assert responses(raw) == [(200, b"Hello, /a")]


def test_streamed_body_with_a_small_unread_rest_is_drained_and_kept() -> None:
    body = b"z" * 150_000
    with running(hello, threads=2, buffer_bodies=False) as srv, srv.connect() as sock:
        sock.sendall(b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body))
        sock.sendall(body[:70_000])
        first = recv_response(sock)
        sock.sendall(body[70_000:] + b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        second = recv_response(sock)
    assert b"Connection: close" not in head_of(first)
    assert responses(first + second) == [(200, b"Hello, /a"), (200, b"Hello, /b")]


@pytest.mark.parametrize("mode", MODES)
def test_a_body_known_to_be_broken_never_reaches_the_app(mode: dict[str, Any]) -> None:
    calls: list[str] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        return digest(environ, start_response)

    with running(app, **mode) as srv:
        raw = srv.request(
            b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\nzz\r\n"  # not a chunk size: arrives with the head
        )
    assert raw.startswith(b"HTTP/1.1 400 ")
    assert calls == []


@pytest.mark.parametrize("mode", MODES)
def test_the_servers_own_error_answers_carry_date_and_server(mode: dict[str, Any]) -> None:
    with running(hello, **mode) as srv:
        raw = srv.request(b"GET / HTTP/1.1\r\n\r\n")  # no Host: 400
    head = head_of(raw).decode()
    assert head.startswith("HTTP/1.1 400 ")
    assert "\r\nDate: " in head
    assert "GMT" in head.split("\r\nDate: ")[1].split("\r\n")[0]
    assert "\r\nServer: wsgikit\r\n" in head + "\r\n"


def test_server_header_none_leaves_it_out_of_error_answers() -> None:
    with running(hello, threads=2, server_header=None) as srv:
        raw = srv.request(b"GET / HTTP/1.1\r\n\r\n")
    assert b"Server:" not in head_of(raw)


def test_uploads_that_stall_hold_no_pool_thread() -> None:
    """Two pool threads; four uploads stall after 70 KB and four Expect heads wait: a GET is
    still answered at once, and the body timeout then answers the stalled ones with 408."""
    stalled: list[socket.socket] = []
    with running(hello, threads=2, body_timeout=1.5) as srv:
        try:
            for _ in range(4):
                sock = srv.connect()
                sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n")
                sock.sendall(b"s" * 70_000)
                stalled.append(sock)
            for _ in range(4):
                sock = srv.connect()
                sock.sendall(
                    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n"
                    b"Expect: 100-continue\r\n\r\n"
                )
                assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
                stalled.append(sock)
            started = time.monotonic()
            answer = srv.request(b"GET /free HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            assert responses(answer) == [(200, b"Hello, /free")]
            assert time.monotonic() - started < 1.0
            for sock in stalled:
                sock.settimeout(6)
                raw = read_all(sock)
                assert raw.startswith(b"HTTP/1.1 408 "), raw[:80]
                assert b"body not received in time" in raw
        finally:
            for sock in stalled:
                sock.close()


def test_a_streamed_body_that_stalls_frees_its_thread_after_the_body_timeout() -> None:
    with running(digest, threads=1, buffer_bodies=False, body_timeout=1.0) as srv:
        with srv.connect() as stuck:
            stuck.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n")
            stuck.sendall(b"s" * 70_000)  # past prebuffer: the one thread takes it, then waits
            stuck.settimeout(5)
            assert read_all(stuck).startswith(b"HTTP/1.1 408 ")
        answer = srv.request(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("threads", [2, 0], ids=["threads", "inline"])
def test_waiting_bodies_stay_within_the_memory_budget(threads: int) -> None:
    """40 uploads of 60 KB each wait for the rest of their body: 1 MiB of them stays in memory,
    the others go to files; when the clients leave, every byte is accounted back."""
    budget = 1 << 20
    socks: list[socket.socket] = []
    with running(hello, threads=threads, body_memory=budget) as srv:
        memory = srv.server.body_memory
        try:
            for _ in range(40):
                sock = srv.connect()
                sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
                sock.sendall(b"m" * 60_000)
                socks.append(sock)
            conns = srv.server.conns

            def arrived() -> int:
                return sum(
                    c.queue[0].body.size
                    for c in list(conns.values())
                    if c.queue  # type: ignore[attr-defined]
                )

            assert wait_for(lambda: arrived() == 40 * 60_000)
            assert memory.used <= budget
            spooled = [c for c in conns.values() if c.queue[0].body.spooled]  # type: ignore[attr-defined]
            assert len(spooled) >= 40 - budget // 60_000
        finally:
            for sock in socks:
                sock.close()
        assert wait_for(lambda: not srv.server.conns)
        assert memory.used == 0


def test_a_stall_after_the_head_is_logged_as_a_body_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        caplog.at_level(logging.INFO, "wsgikit.error"),
        running(hello, threads=2, body_timeout=0.5) as srv,
        srv.connect() as sock,
    ):
        sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        sock.settimeout(5)
        assert read_all(sock).startswith(b"HTTP/1.1 408 ")
    assert "request body not received in time" in caplog.text
    assert "request head not received in time" not in caplog.text


def test_a_pipelined_request_after_an_expect_waits_for_its_turn() -> None:
    """Bodies read on the loop keep pipelined answers in order around the 100."""
    release = threading.Event()

    def slow(environ: Any, start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/slow":
            release.wait(5)
        return digest(environ, start_response)

    with running(slow, threads=2) as srv, srv.connect() as sock:
        sock.sendall(
            b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
            b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(100)  # no 100 before the answer to /slow
        release.set()
        sock.settimeout(5)
        seen = b""
        while not seen.endswith(b"HTTP/1.1 100 Continue\r\n\r\n"):
            more = sock.recv(65536)
            assert more, seen
            seen += more
        assert seen.startswith(b"HTTP/1.1 200 ")  # the answer to /slow, then the 100
        sock.sendall(b"abc")
        assert json.loads(recv_response(sock).split(b"\r\n\r\n")[1])["got"] == 3
