"""Inline mode's turns: every ready connection is served, then the held responses go out in a row.

Only bytes that end a response are held; a streaming app's earlier chunks go out as they come, and
held bytes always precede anything sent later on the same connection (pipelining, sendfile, errors).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers.helpers import read_all, running
from tests.servers.test_http import responses
from wsgikit.servers.http import HTTPConnection, Server


def _has_bytes(sock: socket.socket) -> bool:
    """Whether ``sock`` has something to read, without reading it or waiting."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def _read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def test_responses_of_one_turn_are_sent_after_every_app_ran() -> None:
    clients: list[socket.socket] = []
    seen: list[list[bool]] = []  # per app call: which clients had an answer by then

    def app(environ: Any, start_response: Any) -> list[bytes]:
        seen.append([_has_bytes(client) for client in clients])
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    # validate=False: wsgiref.validate wraps the body in an iterator, which the engine streams
    # (nothing held); a plain list body is the whole response in one send, the one that waits.
    with running(app, threads=0, autostart=False, validate=False) as srv:
        for _ in range(3):
            client = srv.connect()
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # kept alive: no linger
            clients.append(client)
        # The requests wait in their sockets before the loop starts, so its first turn after
        # accepting finds all three readable.
        srv.start()
        answers = [_read_until(client, b"\r\n\r\nok") for client in clients]
    for client in clients:
        client.close()
    assert [responses(answer) for answer in answers] == [[(200, b"ok")]] * 3
    assert seen == [[False, False, False]] * 3


def test_streamed_chunks_are_not_held_until_the_turn_ends() -> None:
    client_box: list[socket.socket] = []
    looked = threading.Event()
    first_chunk: list[bytes] = []

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first;"
        # Still inside the app, on the loop: the first chunk must already be on its way.
        readable, _, _ = select.select(client_box, [], [], 2.0)
        if readable:
            first_chunk.append(client_box[0].recv(65536, socket.MSG_PEEK))
        looked.set()
        yield b"second;"

    with running(app, threads=0) as srv, srv.connect() as client:
        client_box.append(client)
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert looked.wait(5.0)  # read only after the app looked, or this thread takes the bytes
        answer = read_all(client)
    assert first_chunk and first_chunk[0].endswith(b"\r\n\r\n6\r\nfirst;\r\n")
    assert responses(answer) == [(200, b"first;second;")]


def test_held_answers_go_before_a_file_and_before_an_error(tmp_path: Any) -> None:
    path = tmp_path / "file.txt"
    path.write_bytes(b"from a file")

    def app(environ: Any, start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/file":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return environ["wsgi.file_wrapper"](path.open("rb"))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"small"]

    get = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
    with running(app, threads=0, validate=False) as srv:  # list bodies: held (see above)
        answer = srv.request(get % b"/a" + get % b"/file" + get % b"/b" + b"GET / HTTP/9.9\r\n\r\n")
    statuses_and_bodies = responses(answer)
    assert statuses_and_bodies == [
        (200, b"small"),
        (200, b"from a file"),
        (200, b"small"),
        (505, b"505 HTTP Version Not Supported: HTTP version HTTP/9.9 not supported\n"),
    ]


class _Fragile(HTTPConnection):
    """A connection whose own code fails on a marked request: a stand-in for a bug of ours."""

    def on_data(self, data: bytes) -> int:
        if b"/read-bug" in data:
            raise RuntimeError("bug while parsing")
        return super().on_data(data)

    def process(self) -> None:
        if self.queue and b"/serve-bug" in self.queue[0].target:  # type: ignore[union-attr]
            raise RuntimeError("bug while serving")
        super().process()


class _FragileServer(Server):
    connection_class = _Fragile


@pytest.mark.parametrize("path", [b"/read-bug", b"/serve-bug"])
@pytest.mark.parametrize("threads", [pytest.param(2, id="threads"), pytest.param(0, id="inline")])
def test_a_failing_connection_costs_itself_not_the_server(
    path: bytes, threads: int, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    with (
        caplog.at_level(logging.ERROR, "wsgikit.error"),
        running(app, threads=threads, server_class=_FragileServer) as srv,
    ):
        assert srv.request(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path) == b""
        answer = srv.request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert responses(answer) == [(200, b"ok")]
    assert "internal error" in caplog.text
    assert "RuntimeError: bug while" in caplog.text
