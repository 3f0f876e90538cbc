"""EventServer.stop_accepting(), the loop's hook for a worker that leaves: the listeners close
without taking their backlog, and answers close their connections. And the loop never removes
a unix socket file it did not bind itself (an inherited one is the manager's or systemd's)."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.servers.helpers import read_all, running, wait_for
from wsgikit.servers.http import Server


def hello(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"hi"]


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("threads", [4, 0], ids=["threads", "inline"])
def test_stop_accepting_closes_the_listener_and_the_next_answer_closes(threads: int) -> None:
    with running(hello, threads=threads) as srv:
        with srv.connect() as sock:
            sock.sendall(GET)
            assert b"Connection: close" not in sock.recv(65536)
            srv.server.stop_accepting()
            assert wait_for(lambda: not srv.server.listeners)
            with pytest.raises(ConnectionRefusedError):
                srv.connect().close()
            sock.sendall(GET)
            answer = read_all(sock)  # the server closes after it
        assert answer.startswith(b"HTTP/1.1 200") and b"Connection: close" in answer


def test_after_stop_accepting_the_other_holder_of_the_socket_gets_new_clients() -> None:
    other = socket.socket()  # the socket as another worker holds it
    other.bind(("127.0.0.1", 0))
    other.listen(16)
    other.settimeout(5)
    server = Server(hello, [f"fd://{os.dup(other.fileno())}"], threads=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server._wake_w >= 0)  # the loop runs
        server.stop_accepting()
        assert wait_for(lambda: not server.listeners)
        with socket.create_connection(other.getsockname(), timeout=5) as client:
            taken, _ = other.accept()  # queued for the other holder, not reset
            client.sendall(b"x")
            assert taken.recv(1) == b"x"
            taken.close()
    finally:
        server.stop()
        thread.join(timeout=10)
        other.close()


def test_an_inherited_unix_socket_file_stays_when_the_server_stops(tmp_path: Path) -> None:
    path = str(tmp_path / "manager.sock")
    inherited = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    inherited.bind(path)
    inherited.listen(16)
    fd = inherited.detach()  # the server takes it over as fd://N, as a worker does
    server = Server(hello, [f"fd://{fd}"], threads=0)
    server.close_listeners()
    assert Path(path).exists()
