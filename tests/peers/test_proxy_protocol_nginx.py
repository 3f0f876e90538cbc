"""`wsgikit serve --proxy-protocol` behind a real nginx stream proxy (``proxy_protocol on``).

nginx proxies TCP and sends a PROXY v1 header first; the client connects to nginx from 127.0.0.2
(all of 127/8 is loopback on Linux), so the address in the header differs from nginx's own
(127.0.0.1, a trusted proxy by default). With TLS, nginx passes the client's TLS through
untouched and wsgikit terminates it after reading the header.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.integration import free_port
from tests.peers.helpers import Peer, Starter, running
from tests.servers.tls_helpers import Certs, client_context, make_certs
from wsgikit.types import StartResponse, WSGIEnvironment

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLIENT = "127.0.0.2"


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    keys = ("REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme")
    body = json.dumps([environ.get(key) for key in keys]).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@contextlib.contextmanager
def _backend(directory: Path, *extra: str) -> Iterator[Peer]:
    peer = Peer("wsgikit serve", free_port(), directory, directory / "console.log")
    argv = [sys.executable, "-m", "wsgikit", "serve", f"{__name__}:app", "--pythonpath", str(ROOT)]
    argv += ["--bind", f"127.0.0.1:{peer.port}", "--proxy-protocol", "--threads", "2", *extra]
    with running(peer, argv):
        yield peer


@pytest.fixture(scope="module")
def plain(nginx: Starter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with _backend(tmp_path_factory.mktemp("plain")) as backend:
        yield nginx(f"proxy_pass 127.0.0.1:{backend.port}; proxy_protocol on;", stream=True)


@pytest.fixture(scope="module")
def passthrough(
    nginx: Starter, tmp_path_factory: pytest.TempPathFactory, certs: Certs
) -> Iterator[Peer]:
    tls = ("--certfile", str(certs.cert), "--keyfile", str(certs.key))
    with _backend(tmp_path_factory.mktemp("tls"), *tls) as backend:
        yield nginx(f"proxy_pass 127.0.0.1:{backend.port}; proxy_protocol on;", stream=True)


def three_requests(conn: http.client.HTTPConnection) -> tuple[list[list[str]], set[str]]:
    """Three requests on ``conn`` (kept alive): what the app saw each time, and the client's
    local ports they went from (one port: one connection)."""
    saw, ports = [], set()
    with contextlib.closing(conn):
        for _ in range(3):
            conn.request("GET", "/")
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, body
            saw.append(json.loads(body))
            ports.add(str(conn.sock.getsockname()[1]))
    return saw, ports


def test_the_app_sees_the_client_for_every_request_on_the_connection(plain: Peer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", plain.port, 10, source_address=(CLIENT, 0))
    saw, ports = three_requests(conn)
    assert len(ports) == 1
    assert saw == [[CLIENT, ports.pop(), "http"]] * 3


def test_tls_passed_through_nginx_is_served_to_the_client(passthrough: Peer, certs: Certs) -> None:
    conn = http.client.HTTPSConnection(
        "localhost", passthrough.port, timeout=10, context=client_context(certs),
        source_address=(CLIENT, 0),
    )  # fmt: skip
    saw, ports = three_requests(conn)
    assert len(ports) == 1
    assert saw == [[CLIENT, ports.pop(), "https"]] * 3
