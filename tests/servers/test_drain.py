"""Graceful stop serves every request that had already arrived (waiting unread on a connection,
or in the listen backlog) before it closes idle connections; a second signal stops at once, even
while an inline app runs. HTTP, FastCGI and SCGI, threaded and inline."""

from __future__ import annotations

import os
import select
import signal
import socket
import textwrap
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.servers import helpers
from tests.servers.helpers import wait_for
from tests.servers.protocols import FASTCGI, HTTP, PROTOCOLS, SCGI, Answer, Protocol
from tests.test_cli import python_m_wsgikit, read_line

MODES = [pytest.param(2, id="threads"), pytest.param(0, id="inline")]
FINE = Answer(200, b"fine", True)


# -- in a thread, stopped with stop() --------------------------------------------------------------


class Gate:
    """An app: /slow waits (inside the app) until the test opens the gate; the rest is "fine"."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/slow":
            self.entered.set()
            self.open.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slow" if environ["PATH_INFO"] == "/slow" else b"fine"]


@contextmanager
def serving(protocol: Protocol, threads: int, **options: Any) -> Iterator[Any]:
    app = Gate()
    with helpers.running(
        app,
        threads=threads,
        server_class=protocol.server_class,
        handle=protocol.handle,
        **options,
    ) as srv:
        srv.app = app
        yield srv


def send(port: int, protocol: Protocol, path: str, stack: ExitStack) -> socket.socket:
    sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
    sock.sendall(protocol.request(path))
    return sock


@pytest.mark.parametrize("threads", MODES)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_requests_in_the_backlog_when_stop_comes_are_served(
    protocol: Protocol, threads: int
) -> None:
    with serving(protocol, threads, autostart=False) as srv, ExitStack() as stack:
        waiting = [send(srv.port, protocol, "/", stack) for _ in range(5)]
        srv.server.stop()  # before the loop ever ran: all five are still in the backlog
        srv.start()
        answers = [protocol.read(sock) for sock in waiting]
    assert answers == [FINE] * 5


@pytest.mark.parametrize("threads", MODES)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_requests_that_arrive_while_the_app_runs_are_served_on_stop(
    protocol: Protocol, threads: int
) -> None:
    with serving(protocol, threads) as srv, ExitStack() as stack:
        idle = stack.enter_context(srv.connect())
        assert wait_for(lambda: len(srv.server.conns) == 1)  # accepted, nothing sent yet
        slow = send(srv.port, protocol, "/slow", stack)
        assert srv.app.entered.wait(5)
        idle.sendall(protocol.request("/"))  # inline: the loop is in the app and reads nothing
        late = [send(srv.port, protocol, "/", stack) for _ in range(3)]  # inline: the backlog
        srv.server.stop()
        srv.app.open.set()
        assert protocol.read(slow) == Answer(200, b"slow", True)
        answers = [protocol.read(sock) for sock in (idle, *late)]
    assert answers == [FINE] * 4


def test_idle_connections_are_closed_when_the_drain_begins() -> None:
    with serving(HTTP, 0) as srv, srv.connect() as idle:
        assert wait_for(lambda: len(srv.server.conns) == 1)
        srv.server.stop()
        assert idle.recv(1) == b""  # closed without waiting for the shutdown timeout


# -- wsgikit serve / fcgi / scgi in a process, stopped with signals ------------------------------

APPS = """
import time

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path in ("/slow", "/stuck"):
        print("in the app", flush=True)
        time.sleep(1 if path == "/slow" else 30)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slow" if path == "/slow" else b"fine"]
"""


@contextmanager
def wsgikit(
    tmp_path: Path, protocol: Protocol, threads: int
) -> Iterator[tuple[Any, int, ExitStack]]:
    """``wsgikit serve|fcgi|scgi`` of APPS in a process: (process, port, ExitStack for sockets)."""
    (tmp_path / "wk_drain_apps.py").write_text(textwrap.dedent(APPS))
    spec = "wk_drain_apps:app"
    argv = (protocol.command, spec, "--bind", "127.0.0.1:0", "--threads", str(threads))
    with python_m_wsgikit(*argv, cwd=tmp_path) as proc, ExitStack() as stack:
        try:
            banner = read_line(proc)
            prefix = f"Serving {spec} on {protocol.scheme}://127.0.0.1:"
            assert banner.startswith(prefix), banner
            yield proc, int(banner[len(prefix) :]), stack
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def read_until(proc: Any, text: str, timeout: float = 8.0) -> str:
    """What the process writes to stderr up to and with ``text`` (AssertionError after
    ``timeout`` seconds). Read from the pipe itself: a buffered readline() may take the next
    lines along, and select() would then wait for bytes that have already come."""
    fd = proc.stderr.fileno()
    end = time.monotonic() + timeout
    seen = ""
    while text not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        assert ready, f"no {text!r} in {seen[-2000:]!r}"
        data = os.read(fd, 65536)
        assert data, f"no {text!r} in {seen[-2000:]!r}"
        seen += data.decode()
    return seen


@pytest.mark.parametrize("threads", MODES)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sigterm_serves_the_requests_that_already_arrived(
    tmp_path: Path, protocol: Protocol, threads: int
) -> None:
    with wsgikit(tmp_path, protocol, threads) as (proc, port, stack):
        slow = send(port, protocol, "/slow", stack)
        assert read_line(proc) == "in the app"
        waiting = [send(port, protocol, "/", stack) for _ in range(5)]
        proc.send_signal(signal.SIGTERM)
        assert protocol.read(slow) == Answer(200, b"slow", True)
        assert [protocol.read(sock) for sock in waiting] == [FINE] * 5
        for sock in (slow, *waiting):
            sock.close()  # the server lingers until the client closes (or 2 s)
        assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
@pytest.mark.parametrize(
    ("protocol", "threads"),
    [
        pytest.param(HTTP, 0, id="http-inline"),
        pytest.param(FASTCGI, 0, id="fcgi-inline"),
        pytest.param(SCGI, 0, id="scgi-inline"),
        pytest.param(HTTP, 2, id="http-threads"),
    ],
)
def test_a_second_signal_stops_at_once_while_an_app_runs(
    tmp_path: Path, protocol: Protocol, threads: int, signum: signal.Signals
) -> None:
    with wsgikit(tmp_path, protocol, threads) as (proc, port, stack):
        send(port, protocol, "/stuck", stack)
        assert read_line(proc) == "in the app"
        proc.send_signal(signum)
        read_until(proc, f"received {signum.name}, finishing in-flight requests")
        proc.send_signal(signum)
        assert proc.wait(timeout=5) == 0  # the app would sleep 30 s more
        assert f"received {signum.name} again, stopping now" in read_until(proc, "stopping now")
