"""The loop's pollers (wsgikit.servers._poller): WSGIKIT_POLLER and poller= choose one, a bad name
is one clear error, the emulated ONESHOT disarms, listeners are EPOLLEXCLUSIVE, two processes
share one listener, and the loop serves with neither epoll nor poll() (as on Windows)."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.servers.helpers import running, wait_for
from wsgikit.cli import main
from wsgikit.servers._poller import ENV, EpollPoller, PollerError, SelectorPoller, poller_class
from wsgikit.servers.http import Server

ROOT = Path(__file__).resolve().parents[2]


def hello(environ: Any, start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def get(srv: Any) -> bytes:
    return srv.request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


def test_wsgikit_poller_selectors_puts_the_loop_on_a_selector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, "selectors")
    with running(hello) as srv:
        assert get(srv).endswith(b"hello")
        assert isinstance(srv.server.poller, SelectorPoller)


def test_the_poller_keyword_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "epoll")
    with running(hello, poller="poll", threads=0) as srv:
        assert get(srv).endswith(b"hello")
        assert srv.server.poller.name == "poll"


def test_a_server_runs_on_the_poller_the_environment_names() -> None:
    # Also what makes test_portable_loop's run of this directory fail if it ran on epoll.
    wanted = os.environ.get(ENV) or "auto"
    if wanted == "auto":
        wanted = "epoll" if hasattr(select, "epoll") else "selectors"
    with running(hello) as srv:
        assert get(srv).endswith(b"hello")
        assert srv.server.poller.name == wanted


def test_an_unknown_poller_is_an_error_before_binding() -> None:
    with pytest.raises(PollerError, match="unknown poller 'kqeue'"):
        Server(hello, ["127.0.0.1:0"], poller="kqeue")


def test_a_bad_wsgikit_poller_is_one_line_and_status_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV, "fast")
    code = main(["serve", "tests.servers.test_poller:hello", "--bind", "127.0.0.1:0"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines() == [
        "wsgikit serve: error: unknown poller 'fast' (from WSGIKIT_POLLER or poller=); "
        "expected one of auto, epoll, selectors, kqueue, poll, select"
    ]


@pytest.mark.parametrize("name", ["selectors", "poll", "select"])
def test_the_emulated_oneshot_disarms_until_modify(name: str) -> None:
    poller = poller_class(name)()
    left, right = socket.socketpair()
    try:
        poller.register(left.fileno(), poller.READ | poller.ONESHOT)
        right.send(b"x")  # stays unread: level-triggered, it would be reported every time
        assert [fd for fd, _ in poller.poll(1.0)] == [left.fileno()]
        assert poller.poll(0) == []
        poller.modify(left.fileno(), poller.READ | poller.ONESHOT)
        assert [fd for fd, _ in poller.poll(1.0)] == [left.fileno()]
    finally:
        poller.close()
        left.close()
        right.close()


def test_a_pool_thread_arming_a_socket_wakes_a_poll_selector() -> None:
    # poll() and select() see a change made while they wait only on their next call.
    poller = poller_class("poll")()
    left, right = socket.socketpair()
    try:
        poller.register(poller.wake_fd, poller.READ)
        poller.register(left.fileno(), 0)
        right.send(b"x")
        arm = threading.Timer(0.2, poller.modify, (left.fileno(), poller.READ | poller.ONESHOT))
        arm.start()
        woken = [fd for fd, _ in poller.poll(30.0)]
        arm.join()
        assert woken == [poller.wake_fd]
    finally:
        poller.close()
        left.close()
        right.close()


def exclusive_listeners(epoll_fd: int) -> dict[int, bool]:
    """Each descriptor in the epoll set -> whether the kernel has it with EPOLLEXCLUSIVE."""
    text = Path(f"/proc/self/fdinfo/{epoll_fd}").read_text()
    found = re.findall(r"tfd:\s*(\d+) events:\s*([0-9a-f]+)", text)
    return {int(fd): bool(int(mask, 16) & select.EPOLLEXCLUSIVE) for fd, mask in found}


@pytest.mark.skipif(not hasattr(select, "EPOLLEXCLUSIVE"), reason="Linux 4.5+ only")
def test_listeners_are_registered_with_epollexclusive() -> None:
    with running(hello, poller="epoll") as srv:
        assert get(srv).endswith(b"hello")
        poller = srv.server.poller
        assert isinstance(poller, EpollPoller)
        (listener,) = srv.server.listeners
        flags = exclusive_listeners(poller.epoll_fd)
        assert flags[listener] is True
        assert flags[poller.wake_fd] is False


HOLDING_APP = """
import os, sys, time
from wsgikit.servers.http import Server

def app(environ, start_response):
    if environ["PATH_INFO"] == "/hold":  # keeps this (inline) process busy until told
        open(sys.argv[2], "w").close()
        while not os.path.exists(sys.argv[3]):
            time.sleep(0.01)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

server = Server(app, ["fd://" + sys.argv[1]], threads=0)
print("ready", flush=True)
server.run()
"""


def answer(sock: socket.socket) -> bytes:
    with sock:
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        return data.partition(b"\r\n\r\n")[2]


def test_two_processes_sharing_one_listener_both_serve(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    entered, release = tmp_path / "entered", tmp_path / "release"
    argv = [sys.executable, "-c", HOLDING_APP, str(listener.fileno()), str(entered), str(release)]
    procs = [
        subprocess.Popen(argv, pass_fds=[listener.fileno()], stdout=subprocess.PIPE, cwd=ROOT)
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        held = socket.create_connection(("127.0.0.1", port), timeout=10)
        held.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert wait_for(entered.exists, timeout=10)
        # The process holding /hold cannot accept: the other one must take this connection.
        other = socket.create_connection(("127.0.0.1", port), timeout=10)
        other.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        second = answer(other)
        release.touch()
        first = answer(held)
        assert {int(first), int(second)} == {proc.pid for proc in procs}
    finally:
        listener.close()
        for proc in procs:
            proc.kill()
            proc.communicate()


NO_EPOLL_NO_POLL = """
import os, select, socket, sys
del select.epoll, select.poll  # before selectors is imported: DefaultSelector is SelectSelector
UNIX, pair = socket.AF_UNIX, socket.socketpair
del socket.AF_UNIX, os.sendfile
socket.socketpair = lambda: pair(UNIX)  # Windows has its own socketpair(), over TCP
sys.modules["resource"] = None  # POSIX only
import selectors
import wsgikit.cli, wsgikit.servers.cgi, wsgikit.servers.fastcgi, wsgikit.servers.scgi
from wsgikit.servers import _connection, _poller
from wsgikit.servers.http import Server

_connection._gather = _connection._join_send  # as where socket has no sendmsg

def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "GET":  # file_wrapper without os.sendfile: the engine reads
        size = str(os.path.getsize(sys.argv[1]))  # no chunking: the engine would sendfile
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", size)])
        return environ["wsgi.file_wrapper"](open(sys.argv[1], "rb"))
    body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.upper()] * 1000

server = Server(app, ["127.0.0.1:0"], threads=2, buffer_bodies=False, prebuffer=0)
assert server.poller_class is _poller.SelectorPoller, server.poller_class
assert _poller.wait_for is _poller._wait_select
assert not hasattr(_connection.Connection, "sendfile")
print(server.addresses[0][1], flush=True)
server.run()
"""


def test_the_loop_serves_without_epoll_poll_sendfile_or_af_unix(tmp_path: Path) -> None:
    """What Windows offers: select() only. A streamed body makes the pool thread wait for the
    client (wait_for), the answer's parts are joined (no sendmsg), file_wrapper is read."""
    data = tmp_path / "data.txt"
    data.write_bytes(b"0123456789" * 100_000)
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(NO_EPOLL_NO_POLL), str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != ENV},  # auto: what the OS has
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab")
            threading.Event().wait(0.2)  # the app is reading: the pool thread waits for more
            sock.sendall(b"cdef")
            sock.shutdown(socket.SHUT_WR)
            body = answer(sock)
        assert body.replace(b"\r\n", b"").count(b"ABCDEF") == 1000
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert answer(sock) == data.read_bytes()
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert b"Traceback" not in err, err.decode()
