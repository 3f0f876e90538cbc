"""systemd: socket activation with the real systemd-socket-activate, and NOTIFY_SOCKET messages
read from a datagram socket standing in for the service manager."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import free_port, missing
from tests.servers.manager_helpers import APPS, Managed, children_of, until
from wsgikit.servers._systemd import listen_fds

ACTIVATE = "/usr/bin/systemd-socket-activate"


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(15)
    yield sock
    sock.close()


def messages_until(sock: socket.socket, wanted: str) -> list[str]:
    """Datagrams received until one holds the line ``wanted``."""
    seen = []
    while True:
        seen.append(sock.recv(4096).decode())
        if wanted in seen[-1].splitlines():
            return seen


def get(port: int, path: str = "/") -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head, _, body = answer.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head
    return body


@pytest.fixture
def site(tmp_path: Path) -> Path:
    for name, text in APPS.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


def activate(site: Path, port: int, notify: str, *args: str) -> subprocess.Popen[bytes]:
    if not os.path.exists(ACTIVATE):
        missing(f"{ACTIVATE} is not installed")
    command = [sys.executable, "-m", "wsgikit", "serve", "wk_info:app", *args]
    with (site / "activate.log").open("ab") as log:
        proc = subprocess.Popen(
            [ACTIVATE, "-l", f"127.0.0.1:{port}", "-E", f"NOTIFY_SOCKET={notify}", *command],
            cwd=site,
            stdout=log,
            stderr=log,
        )
    until(lambda: _listening(port))  # systemd-socket-activate has bound the port
    return proc


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_socket_activation_with_workers_and_notify(site: Path, notify_socket) -> None:
    port = free_port()
    proc = activate(site, port, notify_socket.getsockname(), "--workers", "2")
    try:
        # systemd-socket-activate starts the service on the first connection
        pid, multiprocess, *_ = get(port).split()
        assert multiprocess == "True"
        assert messages_until(notify_socket, "READY=1")
        workers = children_of(proc.pid)
        assert int(pid) in workers and len(workers) == 2
        proc.send_signal(signal.SIGHUP)
        assert messages_until(notify_socket, "RELOADING=1")
        assert messages_until(notify_socket, "READY=1")
        until(lambda: len(children_of(proc.pid)) == 2 and not children_of(proc.pid) & workers)
        proc.send_signal(signal.SIGTERM)
        assert messages_until(notify_socket, "STOPPING=1")
        assert proc.wait(timeout=30) == 0
    finally:
        stop(proc)


def test_socket_activation_in_one_process(site: Path, notify_socket) -> None:
    port = free_port()
    proc = activate(site, port, notify_socket.getsockname())
    try:
        pid, multiprocess, *_ = get(port).split()
        assert (int(pid), multiprocess) == (proc.pid, "False")
        assert messages_until(notify_socket, "READY=1")
    finally:
        stop(proc)


def test_notify_socket_in_the_abstract_namespace(site: Path) -> None:
    name = f"wsgikit-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(15)
        port = free_port()
        proc = activate(site, port, "@" + name, "--workers", "1")
        try:
            get(port)
            assert messages_until(sock, "READY=1")
        finally:
            stop(proc)


def test_listen_fds_meant_for_another_process_are_ignored_and_unset(monkeypatch) -> None:
    monkeypatch.setenv("LISTEN_PID", str(os.getppid()))
    monkeypatch.setenv("LISTEN_FDS", "2")
    assert listen_fds() == []
    assert "LISTEN_FDS" not in os.environ and "LISTEN_PID" not in os.environ


def test_listen_fds_for_this_process_start_at_3_and_are_unset(monkeypatch) -> None:
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    monkeypatch.setenv("LISTEN_FDS", "2")
    monkeypatch.setenv("LISTEN_FDNAMES", "http:admin")
    assert listen_fds() == [3, 4]
    assert not {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} & os.environ.keys()


def unit(path: Path) -> dict[str, str]:
    """A systemd unit's settings (the last value of each key; comments and sections dropped)."""
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and line[0] not in "#;")


EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "systemd"


def test_the_example_units_serve_under_socket_activation(site: Path, notify_socket) -> None:
    service, sock = unit(EXAMPLES / "wsgikit.service"), unit(EXAMPLES / "wsgikit.socket")
    assert service["Type"] == "notify"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert sock["ListenStream"].endswith(":8000")
    args = shlex.split(service["ExecStart"])
    flags = args[args.index("serve") + 2 :]
    for name in ("--user", "--group"):  # dropping privileges has its own test
        at = flags.index(name)
        del flags[at : at + 2]
    port = free_port()
    proc = activate(site, port, notify_socket.getsockname(), *flags)
    try:
        get(port)
        assert messages_until(notify_socket, "READY=1")
        proc.send_signal(signal.SIGHUP)
        assert messages_until(notify_socket, "READY=1")
        get(port)
    finally:
        stop(proc)


def test_usr2_tells_systemd_the_new_main_pid(tmp_path: Path, notify_socket) -> None:
    pid_file = tmp_path / "wsgikit.pid"
    env = {"NOTIFY_SOCKET": notify_socket.getsockname()}
    srv = Managed(tmp_path, "wk_info:app", "--workers", "1", "--pid", str(pid_file), env=env)
    new_manager = 0
    try:
        srv.wait_workers(1)
        assert messages_until(notify_socket, "READY=1")
        srv.signal(signal.SIGUSR2)
        assert srv.finish() == 0
        new_manager = int(pid_file.read_text())
        assert messages_until(notify_socket, f"MAINPID={new_manager}")
    finally:
        srv.close()
        if new_manager:
            os.kill(new_manager, signal.SIGTERM)
            until(lambda: not Path(f"/proc/{new_manager}").exists(), 30)
