"""Helpers that run wsgikit's HTTP server in a thread, bound before the thread starts."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.validate import validator

from wsgikit.servers._loop import EventServer
from wsgikit.servers.http import Server


class Running:
    def __init__(self, server: EventServer) -> None:
        self.server = server
        self.start: Callable[[], None] = lambda: None  # running() sets it: starts the loop
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
def running(
    app: Any,
    *,
    validate: bool = True,
    server_class: type[EventServer] = Server,
    handle: type[Running] = Running,
    autostart: bool = True,
    **options: Any,
) -> Iterator[Any]:
    """Run ``server_class`` (HTTP by default) on 127.0.0.1:0 in a thread; yield ``handle(server)``.

    The app runs under wsgiref.validate (validation on the server side) unless ``validate=False``.
    ``autostart=False``: the loop starts when the test calls ``handle.start()``.
    """
    options.setdefault("threads", 4)
    server = server_class(validator(app) if validate else app, ["127.0.0.1:0"], **options)
    thread = threading.Thread(target=server.run, daemon=True)
    running = handle(server)
    running.start = thread.start
    if autostart:
        thread.start()
    try:
        yield running
    finally:
        server.stop()
        if thread.ident is None:  # never started: run() would have closed the listeners
            server.close_listeners()
        else:
            thread.join(timeout=10)
            assert not thread.is_alive(), "server did not stop"


class InternalErrors(logging.Handler):
    """Collects "internal error" records of ``wsgikit.error``: exceptions that escaped a server's
    own code. ``with InternalErrors() as errors: ...`` then ``assert not errors.found``."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "internal error" in record.getMessage():
            self.found.append(self.format(record))

    def __enter__(self) -> InternalErrors:
        logging.getLogger("wsgikit.error").addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        logging.getLogger("wsgikit.error").removeHandler(self)


def slow_reader(srv: Running) -> socket.socket:
    """A client with a tiny receive window, so the server's socket fills up at once."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((srv.host, srv.port))
    return sock


def only_connection(srv: Running) -> Any:
    """The server's one connection, once the loop accepted it."""
    assert wait_for(lambda: len(srv.server.conns) == 1)
    return next(iter(srv.server.conns.values()))


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; its last answer."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
