"""Scale-out with real parts: two ``wsgikit serve --workers 2`` instances behind a real nginx
``upstream`` (round-robin, a keep-alive pool to the instances), sessions in a real redis-server
(``SessionMiddleware`` with ``RedisStore``, tests/peers/scale_app.py).

What a deployment behind a load balancer needs: a session written through one instance is read
through the other; ``kill -9`` of a whole instance (manager and workers) loses no session and,
since nginx passes a GET that failed on a dead instance to the next one
(``proxy_next_upstream error timeout``, nginx's default, written out here), no request; a HUP
of every instance under load fails no request and counts every visit once.

One thing a retry cannot undo: a request the killed instance had served up to its save in
Redis, but whose answer never left, is run again by the other instance, and that visit counts
twice (at-least-once, as with any proxy retry of a request with an effect). The clients tell
these apart by nginx's ``$upstream_addr`` (two addresses: retried) and the test bounds them by
the requests in flight at the kill.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import free_port
from tests.middleware.conftest import redis_server
from tests.peers.helpers import ROOT, Peer, Starter
from tests.peers.session_clients import SessionClients, Visitor
from tests.servers.manager_helpers import Managed, kill, until

pytestmark = pytest.mark.integration

SECRET = "scale-out-test-secret-0123456789"
INSTANCES = ("a", "b")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("scale-redis")) as (_, url):
        yield url


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    """The instances' ports, fixed for the module: nginx's upstream names them."""
    return {name: free_port() for name in INSTANCES}


@pytest.fixture(scope="module")
def front(nginx: Starter, ports: dict[str, int]) -> Peer:
    # max_fails=0: nginx tries each instance in its turn, never marking one down for a while,
    # so that no test inherits the previous test's kill.
    servers = "".join(f"server 127.0.0.1:{port} max_fails=0;" for port in ports.values())
    return nginx(
        """
        location / {
            proxy_pass http://instances;
            proxy_http_version 1.1;          # keep-alive to the upstream needs 1.1 ...
            proxy_set_header Connection "";  # ... and no "Connection: close" from the client
            proxy_next_upstream error timeout;
            add_header X-Upstream $upstream_addr always;  # "a:port, b:port" when retried
        }
        """,
        http=f"upstream instances {{ {servers} keepalive 8; }}",
    )


@pytest.fixture
def instances(
    tmp_path: Path, redis_url: str, ports: dict[str, int]
) -> Iterator[dict[str, Managed]]:
    """Both instances, fresh for each test (one may be killed), each with 2 workers."""
    started: dict[str, Managed] = {}
    try:
        for name, port in ports.items():
            env = {"SCALE_INSTANCE": name, "SCALE_REDIS_URL": redis_url, "SCALE_SECRET": SECRET}
            started[name] = Managed(
                tmp_path,
                "tests.peers.scale_app:app",
                *("--workers", "2", "--pythonpath", str(ROOT)),
                env=env,
                bind=("--bind", f"127.0.0.1:{port}"),
            )
            if started[name].port != port:
                started[name].finish(timeout=5)
                pytest.fail(f"instance {name} did not start:\n{started[name].stderr}")
        for managed in started.values():
            managed.wait_workers(2)
        yield started
    finally:
        for managed in started.values():
            kill_instance(managed)


def kill_instance(managed: Managed) -> None:
    """``kill -9`` of the manager, then of its workers (in this order: a manager left alive
    would replace them); return once none of them holds the port any more."""
    workers = managed.children()
    kill(managed.pid, signal.SIGKILL)
    managed.proc.wait()
    for pid in workers:
        kill(pid, signal.SIGKILL)
    until(lambda: not any(map(_alive, workers)), 10)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_a_session_written_through_one_instance_is_read_through_the_other(
    instances: dict[str, Managed], ports: dict[str, int]
) -> None:
    with Visitor(ports["a"]) as visitor:
        for n in range(1, 21):
            name = INSTANCES[n % 2 == 0]  # a, b, a, b, ...
            visitor.connect(ports[name])
            visitor.visit()
            assert visitor.count == n, (visitor.failures, visitor.breaks)
    assert visitor.served_by == {"a": 10, "b": 10}


def test_nginx_spreads_one_session_over_both_instances(
    instances: dict[str, Managed], front: Peer
) -> None:
    with Visitor(front.port) as visitor:
        for _ in range(20):
            visitor.visit()
    assert (visitor.failures, visitor.breaks, visitor.skips) == ([], [], [])
    assert visitor.count == 20
    assert set(visitor.served_by) == {"a", "b"}


def test_kill_9_of_one_instance_under_load_loses_no_session_and_no_request(
    instances: dict[str, Managed], front: Peer
) -> None:
    victim = instances["a"]
    with SessionClients(front.port, 4) as clients:
        clients.wait_each(20)
        assert set(clients.served_by()) == {"a", "b"}
        kill_instance(victim)  # the whole instance, as a machine that crashed
        before = clients.served_by()
        clients.wait_each(30)
    assert clients.failures == []  # nginx retried what the dead instance could not answer
    assert clients.breaks == []  # no session lost
    # A visit the dead instance had saved before it died, retried by nginx, counts twice: at
    # most once per visitor, the one request each had in flight.
    assert len(clients.skips) <= len(clients.visitors), clients.skips
    after = clients.served_by()
    # Answers the dead instance sent before the kill may reach their visitor after it: at most
    # one a visitor, the one each had in flight (under load, seen: 2 with 4 visitors).
    assert after["a"] - before["a"] <= len(clients.visitors)
    assert after["b"] - before["b"] >= 4 * 30 - 1


def test_hup_of_both_instances_under_load_fails_no_request(
    instances: dict[str, Managed], front: Peer
) -> None:
    # Through nginx, as deployed (tests/servers/test_workers.py loads one instance directly).
    with SessionClients(front.port, 4) as clients:
        clients.wait_each(10)
        for _ in range(4):
            for managed in instances.values():
                old = managed.children()
                managed.signal(signal.SIGHUP)
                until(lambda m=managed, o=old: _reloaded(m, o), 10)
                clients.wait_each(5)
    assert clients.failures == []
    assert (clients.breaks, clients.skips) == ([], [])  # a drain answers what it took in
    assert set(clients.served_by()) == {"a", "b"}


def _reloaded(managed: Managed, old: set[int]) -> bool:
    now = managed.children()
    return len(now) == 2 and not now & old
