"""Helpers for the worker-process tests: a real ``wsgikit serve --workers`` subprocess, its
children read from /proc, and a load client that counts every failed request."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.servers.helpers import wait_for

# wk_info answers "<pid> <multiprocess> <euid> <pid that imported the module>"; wk_slow takes
# a second (a drain must wait for it); wk_crash raises at import in every worker.
APPS = {
    "wk_info.py": """
        import os, time
        IMPORTED_BY = os.getpid()

        def app(environ, start_response):
            if environ["PATH_INFO"] == "/slow":
                time.sleep(float(environ.get("QUERY_STRING") or 1))
            body = f"{os.getpid()} {environ['wsgi.multiprocess']} {os.geteuid()} {IMPORTED_BY}"
            start_response("200 OK", [("Content-Type", "text/plain"),
                                      ("Content-Length", str(len(body)))])
            return [body.encode()]
    """,
    "wk_grow.py": """
        HELD = []

        def app(environ, start_response):
            if environ["PATH_INFO"] == "/grow":
                HELD.append(bytearray(100 << 20))  # 100 MiB, touched: resident
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
    """,
    "wk_crash.py": """
        raise RuntimeError("no database today")
    """,
    "wk_die.py": """
        import os
        os._exit(7)
    """,
}


class Managed:
    """``wsgikit COMMAND SPEC --bind 127.0.0.1:0 ARGS`` started in ``site``; ``port`` once it
    printed where it serves."""

    def __init__(
        self,
        site: Path,
        spec: str,
        *args: str,
        command: str = "serve",
        env: dict[str, str] | None = None,
        bind: Sequence[str] = ("--bind", "127.0.0.1:0"),
        pass_fds: Sequence[int] = (),
    ) -> None:
        for name, text in APPS.items():
            (site / name).write_text(textwrap.dedent(text))
        # Files, not pipes: after USR2 the new manager holds them open after the old one left.
        self._out = site / f"manager-{id(self)}.out"
        self._err = site / f"manager-{id(self)}.err"
        with self._out.open("w") as out, self._err.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wsgikit", command, spec, *bind, *args],
                cwd=site,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=err,
                text=True,
                pass_fds=pass_fds,
                process_group=0,  # close() kills the group: workers, USR2 managers, all
            )
        self.pid = self.proc.pid
        self.port = 0
        self.stderr = ""
        wait_for(lambda: "\n" in self._out.read_text() or self.proc.poll() is not None, 10)
        line = self._out.read_text().partition("\n")[0]
        if line.startswith("Serving"):
            self.port = int(line.rsplit(":", 1)[1])

    def children(self, pid: int | None = None) -> set[int]:
        return children_of(self.pid if pid is None else pid)

    def get(self, path: str = "/", timeout: float = 10.0) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            assert response.status == 200, response.status
            return response.read().decode()
        finally:
            conn.close()

    def info(self) -> list[str]:
        """The wk_info app's answer, split."""
        return self.get().split()

    def wait_workers(self, count: int, timeout: float = 10.0, *, answers: bool = True) -> set[int]:
        """Wait until ``count`` workers run and (HTTP) answer; their pids."""
        assert wait_for(lambda: len(self.children()) == count, timeout), self.children()
        assert not answers or wait_for(lambda: self._answers(), timeout)
        return self.children()

    def _answers(self) -> bool:
        try:
            self.get(timeout=2)
        except (OSError, AssertionError, http.client.HTTPException):
            return False
        return True

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def finish(self, timeout: float = 30.0) -> int:
        """Wait for the manager to exit; its status (stderr in ``self.stderr``)."""
        try:
            status = self.proc.wait(timeout=timeout)
        finally:
            self.stderr = self._err.read_text()
        return status

    def close(self) -> None:
        """SIGKILL every process of the group at once. Killing the workers first, then the
        manager, left orphans: the manager replaced the dead workers in between."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait()


def kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def children_of(parent: int) -> set[int]:
    """Live (not zombie) child processes of ``parent``, from /proc."""
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            found.add(int(name))
    return found


def free_low_port() -> int:
    """A free privileged port (below 1024): binding it needs root."""
    for port in range(900, 1000):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below 1024")


class Load:
    """A load client on threads: keep-alive clients and new-connection clients, each counting
    every non-2xx answer and every connection error, including a keep-alive connection that
    the server closed as the client sent its next request (no retry)."""

    def __init__(self, port: int, *, keepalive: int = 2, fresh: int = 2, path: str = "/") -> None:
        self.port = port
        self.path = path
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._keepalive, daemon=True) for _ in range(keepalive)
        ] + [threading.Thread(target=self._fresh, daemon=True) for _ in range(fresh)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def wait_ok(self, count: int, timeout: float = 30.0) -> None:
        """Wait until ``count`` more requests succeeded."""
        target = self.ok + count
        assert wait_for(lambda: self.ok >= target, timeout), (self.ok, self.failures[:3])

    def _count(self, failure: str | None) -> None:
        with self._lock:
            if failure is None:
                self.ok += 1
            else:
                self.failures.append(failure)

    def _fresh(self) -> None:
        while not self._stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self._count(_one(conn, self.path))
            conn.close()

    def _keepalive(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self._stop.is_set():
            failure = _one(conn, self.path)
            self._count(failure)
            if failure is not None or conn.sock is None:  # closed by the server: reconnect
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.close()


def _one(conn: http.client.HTTPConnection, path: str) -> str | None:
    """One GET: None when it got a 2xx, else what went wrong."""
    try:
        conn.request("GET", path)
        response = conn.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        return f"error: {exc!r}"
    try:
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"error reading: {exc!r}"
    if not 200 <= response.status < 300:
        return f"status {response.status}"
    return None


def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    assert wait_for(predicate, timeout)
