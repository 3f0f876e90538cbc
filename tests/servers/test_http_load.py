"""The server's resource bounds, checked with real sockets: slow clients, huge bodies.

These are behaviour checks, not speed measurements: they assert what a slow client costs (a
socket, no thread) and that memory stays bounded while a huge body streams through.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.servers.helpers import running, wait_for

MiB = 1 << 20


def hello(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"hi"]


def test_a_thousand_slow_clients_cost_sockets_not_threads() -> None:
    with running(hello, threads=4, header_timeout=60) as srv:
        slow = []
        try:
            for _ in range(1000):
                sock = socket.create_connection((srv.host, srv.port), timeout=10)
                sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")  # a head that never ends
                slow.append(sock)
            threads_before = threading.active_count()
            for _ in range(20):
                answer = srv.request(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"hi")
            assert threading.active_count() == threads_before  # no thread per client
            # All of them accepted and still held, none answered.
            assert wait_for(lambda: len(srv.server.conns) >= 1000)
            slow[0].settimeout(0.2)
            with pytest.raises(TimeoutError):
                slow[0].recv(1)
        finally:
            for sock in slow:
                sock.close()


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def _sink(environ: Any, start_response: Any) -> list[bytes]:
    total = 0
    while chunk := environ["wsgi.input"].read(MiB):
        total += len(chunk)
    body = str(total).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _source(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    block = b"x" * MiB
    return (block for _ in range(int(environ["QUERY_STRING"])))


def _big(environ: Any, start_response: Any) -> Any:
    return (_sink if environ["REQUEST_METHOD"] == "POST" else _source)(environ, start_response)


def test_huge_upload_and_download_keep_memory_bounded() -> None:
    size_mib = 256
    # Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
    Path("/proc/self/clear_refs").write_text("5")
    before = _rss_kib("VmRSS")
    with running(_big, threads=2) as srv:
        with socket.create_connection((srv.host, srv.port), timeout=30) as sock:
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (size_mib * MiB)
            )
            block = b"y" * MiB
            for _ in range(size_mib):
                sock.sendall(block)
            answer = sock.recv(65536)
        assert answer.endswith(str(size_mib * MiB).encode())
        with socket.create_connection((srv.host, srv.port), timeout=30) as sock:
            sock.sendall(b"GET /?%d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" % size_mib)
            received = 0
            buffer = bytearray(MiB)
            while n := sock.recv_into(buffer):
                received += n
        assert received > size_mib * MiB  # the body, plus head and chunk framing
    growth_mib = (_rss_kib("VmHWM") - before) / 1024
    assert growth_mib < 50, f"peak RSS grew by {growth_mib:.1f} MiB moving {size_mib} MiB each way"


def _digest(environ: Any, start_response: Any) -> list[bytes]:
    digest = hashlib.sha256()
    while chunk := environ["wsgi.input"].read(MiB):
        digest.update(chunk)
    body = digest.hexdigest().encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_inline_mode_spools_a_big_body_instead_of_holding_it(chunked: bool) -> None:
    # Inline mode reads the whole body before the app runs; past 1 MiB it goes to a file.
    size_mib = 64
    block = bytes(range(256)) * 4096  # 1 MiB
    expected = hashlib.sha256(block * size_mib).hexdigest().encode()
    Path("/proc/self/clear_refs").write_text("5")
    before = _rss_kib("VmRSS")
    with running(_digest, threads=0) as srv:
        with socket.create_connection((srv.host, srv.port), timeout=30) as sock:
            if chunked:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
                for _ in range(size_mib):
                    sock.sendall(b"100000\r\n" + block + b"\r\n")
                sock.sendall(b"0\r\n\r\n")
            else:
                head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
                sock.sendall(head % (size_mib * MiB))
                for _ in range(size_mib):
                    sock.sendall(block)
            answer = sock.recv(65536)
            # The same connection serves the next request: the spool was used up and closed.
            sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
            second = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(expected)
    assert second.endswith(hashlib.sha256(b"abc").hexdigest().encode())
    growth_mib = (_rss_kib("VmHWM") - before) / 1024
    assert growth_mib < 24, f"peak RSS grew by {growth_mib:.1f} MiB for a {size_mib} MiB body"


def test_inline_mode_answers_100_continue_when_the_head_arrives() -> None:
    with running(_digest, threads=0) as srv, srv.connect() as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abc")
        assert sock.recv(65536).endswith(hashlib.sha256(b"abc").hexdigest().encode())


def test_closing_mid_upload_releases_the_spool() -> None:
    with running(_digest, threads=0) as srv:
        with socket.create_connection((srv.host, srv.port), timeout=30) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (8 * MiB))
            for _ in range(3):
                sock.sendall(b"z" * MiB)
            assert wait_for(lambda: len(srv.server.conns) == 1)  # accepted by the loop
            conn = next(iter(srv.server.conns.values()))
            queue = conn.queue  # type: ignore[attr-defined]
            assert wait_for(lambda: bool(queue) and queue[0].body.spooled)
            spool_file = queue[0].body._file
        assert wait_for(lambda: spool_file.closed)
