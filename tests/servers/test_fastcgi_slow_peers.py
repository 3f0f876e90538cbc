"""FastCGI peers that do not read what they asked for: in inline mode the loop goes on serving
other connections; a streamed answer pauses, and every byte still arrives in order."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers.fastcgi_helpers import running
from tests.servers.fcgi_client import Client, request
from tests.servers.helpers import only_connection, slow_reader, wait_for
from wsgikit.servers._connection import WRITE

BIG = bytes(range(256)) * (16 * 4096)  # 16 MiB: more than any socket buffer here


def app_with(produced: list[int]) -> Any:
    chunk = BIG[: 64 * 1024]

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        if environ["PATH_INFO"] != "/stream":
            yield b"ok"
            return
        for _ in range(len(BIG) // len(chunk)):
            produced.append(len(chunk))
            yield chunk

    return app


@pytest.mark.parametrize(
    "threads", [pytest.param(1, id="one-thread"), pytest.param(0, id="inline")]
)
def test_a_peer_that_does_not_read_a_stream_holds_nothing_else(threads: int) -> None:
    produced: list[int] = []
    with running(app_with(produced), threads=threads) as srv, slow_reader(srv) as slow:
        slow.sendall(request(PATH_INFO="/stream", SCRIPT_NAME=""))
        conn = only_connection(srv)
        assert wait_for(lambda: conn.unsent_size > 0)
        started = time.monotonic()
        # one thread is busy writing to the slow peer: the inline loop is not
        if threads == 0:
            assert srv.exchange(request(PATH_INFO="/x")).body == b"ok"
            assert time.monotonic() - started < 2.0
            assert wait_for(lambda: conn.state == WRITE)
        time.sleep(0.3)
        assert sum(produced) < len(BIG) // 2  # the app waits for the peer, paused
        response = Client(slow).response()
    assert response.body == BIG
    assert response.end is not None


def test_inline_a_peer_that_floods_requests_and_reads_nothing_holds_not_the_loop() -> None:
    produced: list[int] = []
    count = 400  # request 1 asks for 16 MiB, the 398 behind it for "ok" each
    flood = request(rid=1, PATH_INFO="/stream")
    flood += b"".join(request(rid=n, PATH_INFO="/x") for n in range(2, count))
    with (
        running(app_with(produced), threads=0, max_requests=count) as srv,
        slow_reader(srv) as slow,
    ):
        slow.sendall(flood)
        conn = only_connection(srv)
        assert wait_for(lambda: conn.state == WRITE)
        started = time.monotonic()
        assert srv.exchange(request(PATH_INFO="/x")).body == b"ok"
        assert time.monotonic() - started < 2.0
        client = Client(slow)
        assert client.response(1).body == BIG
        for rid in range(2, count):
            assert client.response(rid).body == b"ok"
