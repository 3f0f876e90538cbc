"""Workers sharing a listening socket each take their share of the connections
(:mod:`wsgikit.servers._accept_share`): the policy, the shared board, and real managers."""

from __future__ import annotations

import collections
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.manager_helpers import Managed, until
from wsgikit.servers._accept_share import AcceptShare, Board, room


def _share(board: Board, slot: int) -> AcceptShare:
    kick = os.pipe()
    return AcceptShare(board, slot, kick, lambda line: None)


def test_the_only_live_worker_accepts_without_limit() -> None:
    assert room(40, None) >= 64


def test_the_least_loaded_worker_always_has_room() -> None:
    assert all(room(mine, least) >= 1 for least in range(300) for mine in range(least + 1))


def test_a_worker_more_than_slack_above_the_least_has_no_room() -> None:
    # slack: 2 connections, or a tenth of the least loaded worker's
    assert (room(4, 1), room(5, 2), room(110, 100), room(111, 100)) == (0, 0, 1, 0)


def test_a_cleared_slot_is_nobodys_least() -> None:
    board = Board(4)
    mine, other = _share(board, board.take(set())), _share(board, board.take({0}))
    other.go_live(0)
    assert mine.least() == 0
    board.clear(1)
    assert mine.least() is None


def test_a_worker_whose_loop_stopped_sweeping_is_nobodys_least() -> None:
    board = Board(4)
    mine, other = _share(board, board.take(set())), _share(board, board.take({0}))
    other.go_live(0)
    other.tick(time.monotonic() - 10)  # its last sweep, ten seconds ago
    assert mine.least() is None


def test_a_close_that_leaves_a_worker_aside_the_least_loaded_wakes_its_loop() -> None:
    # Every worker may be aside: the one whose connections closed must come back by itself
    # (measured without this: new connections waited for the once-a-second sweep).
    board = Board(4)
    kick_r, kick_w = os.pipe()
    os.set_blocking(kick_r, False)
    mine = AcceptShare(board, board.take(set()), (kick_r, kick_w), lambda line: None)
    other = _share(board, board.take({0}))
    other.go_live(6)
    mine.aside = True
    mine.count(9)  # still more than 6 + 2: stays aside, no wake-up
    with pytest.raises(BlockingIOError):
        os.read(kick_r, 1)
    mine.count(8)
    assert os.read(kick_r, 1) == b"k"


def test_a_replacement_takes_the_lowest_free_slot() -> None:
    assert Board(4).take({0, 2}) == 1


# -- real managers ---------------------------------------------------------------------------------


@pytest.fixture
def manage(tmp_path: Path) -> Iterator[type[Managed]]:
    started: list[Managed] = []

    def start(spec: str, *args: str, command: str = "serve") -> Managed:
        managed = Managed(tmp_path, spec, *args, command=command)
        started.append(managed)
        return managed

    yield start  # type: ignore[misc]
    for managed in started:
        managed.close()


def _serving(srv: Managed, count: int) -> set[int]:
    """Wait until ``count`` workers run their loop; their pids. A worker's loop polls an epoll
    watching sockets (the listener, its wake-up pair); the manager's, inherited until the
    worker closes it, watches pipes only."""
    until(lambda: len(srv.children()) == count and all(map(_looping, srv.children())), 15)
    return srv.children()


def _looping(pid: int) -> bool:
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:[eventpoll]":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                watched = [line.split()[1] for line in info if line.startswith("tfd:")]
            if any(os.readlink(f"/proc/{pid}/fd/{tfd}").startswith("socket:") for tfd in watched):
                return True
    except OSError:
        pass
    return False


def _open_together(port: int, count: int) -> tuple[list[socket.socket], collections.Counter[int]]:
    """``count`` keep-alive connections opened at once, one request each: the sockets (still
    open) and how many each worker pid answered."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]
    for sock in socks:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    answers: collections.Counter[int] = collections.Counter()
    for sock in socks:
        data = b""
        while not data.endswith(b"False 0 0") and b" True " not in data.partition(b"\r\n\r\n")[2]:
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        answers[int(data.partition(b"\r\n\r\n")[2].split()[0])] += 1
    return socks, answers


@pytest.mark.parametrize(
    ("workers", "connections", "threads"),
    [(2, 50, "8"), (2, 50, "0"), (4, 200, "8")],
    ids=["2-workers-50", "2-inline-workers-50", "4-workers-200"],
)
def test_connections_opened_together_are_shared_between_the_workers(
    manage, workers: int, connections: int, threads: str
) -> None:
    srv = manage("wk_info:app", "--workers", str(workers), "--threads", threads)
    pids = _serving(srv, workers)
    fair = connections / workers
    for _ in range(3):  # each burst: before, one worker took 50 of 50, or 42, or 49
        socks, answers = _open_together(srv.port, connections)
        for sock in socks:
            sock.close()
        assert set(answers) == pids
        assert min(answers.values()) >= 0.6 * fair, answers


def test_a_killed_workers_replacement_gets_the_new_connections(manage) -> None:
    srv = manage("wk_info:app", "--workers", "2")
    victim, survivor = _serving(srv, 2)
    held, answers = _open_together(srv.port, 40)
    assert answers[victim] >= 12
    os.kill(victim, signal.SIGKILL)  # its slot said it held about 20
    (replacement,) = _serving(srv, 2) - {survivor}
    more, answers = _open_together(srv.port, 20)
    # the survivor holds its ~20: the replacement (0) takes the new ones, less the slack
    assert answers[replacement] >= 14, answers
    for sock in held + more:
        sock.close()


def test_fastcgi_workers_share_keep_alive_connections_opened_together(manage) -> None:
    from tests.servers.fcgi_client import Client, request

    srv = manage("wk_info:app", "--workers", "2", command="fcgi")
    pids = _serving(srv, 2)
    socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=30) for _ in range(50)]
    clients = [Client(sock) for sock in socks]
    for client in clients:
        client.send(request(keep=True))  # the web server keeps the connection (FCGI_KEEP_CONN)
    answers = collections.Counter(
        int(client.response().stdout.partition(b"\r\n\r\n")[2].split()[0]) for client in clients
    )
    for sock in socks:
        sock.close()
    assert set(answers) == pids
    assert min(answers.values()) >= 15, answers
