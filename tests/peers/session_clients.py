"""Clients that keep a session cookie and check that the visit counter of tests/peers/scale_app.py
goes up by exactly one per request, whichever instance answers.

``SessionClients(port, count)`` runs ``count`` clients on threads against one port (nginx);
each keeps its own session and records every failed request (non-2xx, connection error, no
retry), every answer whose counter is not the one expected (a lost or reset session), and the
visits nginx retried on another instance that counted twice (``skips``)::

    with SessionClients(nginx.port, 4) as clients:
        clients.wait_each(20)
    assert clients.failures == [] and clients.breaks == [] and clients.skips == []
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor

from tests.servers.helpers import wait_for


class Visitor:
    """One browser: a session cookie, the count its next answer must carry, and what went wrong.

    ``failures``: non-2xx answers and connection errors. ``breaks``: answers whose counter is
    not the previous one plus one (a session lost, reset or counted twice). ``skips``: answers
    one further on than expected that nginx got only after passing the request on to another
    instance (its ``X-Upstream`` header, nginx's ``$upstream_addr``, names two): the first
    instance may have saved the visit before it died, and the retry counted it again.
    """

    def __init__(self, port: int, *, keepalive: bool = True) -> None:
        self.keepalive = keepalive
        self.cookie = ""
        self.count = 0
        self.served_by: Counter[str] = Counter()
        self.failures: list[str] = []
        self.breaks: list[str] = []
        self.skips: list[str] = []
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def connect(self, port: int) -> None:
        """Send the next requests to ``port``, on a new connection."""
        self._conn.close()
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def visit(self) -> None:
        """One GET, its outcome checked."""
        try:
            status, body, upstreams = self._get()
        except (OSError, http.client.HTTPException) as exc:
            self._conn.close()  # http.client opens a new connection for the next request
            self.failures.append(f"error: {exc!r}")
            return
        finally:
            if not self.keepalive:
                self._conn.close()
        if not 200 <= status < 300:
            self.failures.append(f"status {status}: {body!r}")
            return
        instance, _, count = body.partition(" ")
        self.served_by[instance] += 1
        expected, self.count = self.count + 1, int(count)
        seen = f"expected {expected}, got {body!r} via {upstreams!r} ({self.cookie})"
        if self.count == expected + 1 and "," in upstreams:
            self.skips.append(seen)
        elif self.count != expected:
            self.breaks.append(seen)

    def _get(self) -> tuple[int, str, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        self._conn.request("GET", "/", headers=headers)
        response = self._conn.getresponse()
        body = response.read().decode()
        if cookie := response.getheader("Set-Cookie"):
            self.cookie = cookie.partition(";")[0]
        return response.status, body, response.getheader("X-Upstream", "")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Visitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SessionClients:
    """``count`` visitors on threads (every other one opens a new connection per request)."""

    def __init__(self, port: int, count: int) -> None:
        self.visitors = [Visitor(port, keepalive=i % 2 == 0) for i in range(count)]
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=count)
        self._runs: list[Future[None]] = []

    def __enter__(self) -> SessionClients:
        self._runs = [self._pool.submit(self._run, visitor) for visitor in self.visitors]
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._pool.shutdown()
        for visitor in self.visitors:
            visitor.close()
        for run in self._runs:
            run.result()  # a client that crashed (an answer it could not parse) fails the test

    @property
    def failures(self) -> list[str]:
        return [failure for visitor in self.visitors for failure in visitor.failures]

    @property
    def breaks(self) -> list[str]:
        return [broken for visitor in self.visitors for broken in visitor.breaks]

    @property
    def skips(self) -> list[str]:
        return [skip for visitor in self.visitors for skip in visitor.skips]

    def served_by(self) -> Counter[str]:
        """How many answers each instance gave, over every visitor."""
        return sum((visitor.served_by for visitor in self.visitors), Counter())

    def wait_each(self, more: int, timeout: float = 30.0) -> None:
        """Wait until every visitor got ``more`` more answers."""
        targets = [visitor.count + more for visitor in self.visitors]
        done = wait_for(
            lambda: all(v.count >= t for v, t in zip(self.visitors, targets, strict=True)), timeout
        )
        assert done, (targets, [v.count for v in self.visitors], self.failures[:3])

    def _run(self, visitor: Visitor) -> None:
        while not self._stop.is_set():
            visitor.visit()
