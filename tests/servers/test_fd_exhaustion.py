"""Out of file descriptors (EMFILE on accept): one log line per interval with a count, the open
connections served meanwhile, new ones accepted again once descriptors are free."""

from __future__ import annotations

import http.client
import os
import resource
import select
import socket
import time
from pathlib import Path

import pytest

from tests.servers.protocols import HTTP
from tests.servers.test_drain import MODES, read_until, wsgikit

LIMIT = 24  # descriptors: the server needs 7 of its own (3 std, listener, epoll, wake pipe)


def read_for(proc: object, seconds: float) -> str:
    """What the process writes to stderr in the next ``seconds``."""
    fd = proc.stderr.fileno()  # type: ignore[attr-defined]
    end = time.monotonic() + seconds
    seen = b""
    while (left := end - time.monotonic()) > 0:
        if select.select([fd], [], [], left)[0]:
            seen += os.read(fd, 65536)
    return seen.decode()


@pytest.mark.parametrize("threads", MODES)
def test_out_of_descriptors_logs_once_and_serves_open_connections(
    tmp_path: Path, threads: int
) -> None:
    with wsgikit(tmp_path, HTTP, threads) as (proc, port, stack):
        resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
        kept = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        stack.callback(kept.close)
        kept.request("GET", "/")
        assert kept.getresponse().read() == b"fine"
        fillers = [
            stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            for _ in range(2 * LIMIT)  # the rest wait in the listen backlog
        ]
        read_until(proc, "Too many open files")
        logged = ""
        for _ in range(10):  # two seconds out of descriptors, the kept connection in use
            kept.request("GET", "/")
            response = kept.getresponse()
            assert (response.status, response.read()) == (200, b"fine")
            logged += read_for(proc, 0.2)
        # Was: a line every turn of the loop (about a hundred a second).
        assert logged.count(" ERROR ") <= 1, logged[-2000:]
        for sock in fillers:
            sock.close()
        assert HTTP.get(port, "/").body == b"fine"  # accepted once descriptors are free
