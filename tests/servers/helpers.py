"""Helpers that run wsgikit's HTTP server in a thread, bound before the thread starts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.validate import validator

from wsgikit.servers.selector import Server


class Running:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.host, self.port = server.addresses[0][:2]

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def request(self, raw: bytes, timeout: float = 5.0) -> bytes:
        """Send raw bytes, read until the server closes; the whole answer."""
        with self.connect(timeout) as sock:
            sock.sendall(raw)
            return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


@contextmanager
def running(app: Any, *, validate: bool = True, **options: Any) -> Iterator[Running]:
    options.setdefault("threads", 4)
    server = Server(validator(app) if validate else app, ["127.0.0.1:0"], **options)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield Running(server)
    finally:
        server.stop()
        thread.join(timeout=10)
        assert not thread.is_alive(), "server did not stop"
