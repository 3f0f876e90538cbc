"""wsgikit's FastCGI server behind a real nginx: ``fastcgi_keep_conn`` on and off, mount points.

The FastCGI servers run in this process (threads, bound on free ports or a unix socket); nginx
runs from the peer fixtures. The app (shared with the other gateway peer tests) is wrapped in
wsgiref.validate on the server side. Keep-conn is checked by counting the connections the
server accepted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest
import requests

from tests.peers.helpers import Peer, Starter, missing
from wsgikit.gateway import ConnectionInfo
from wsgikit.servers._loop import EventServer
from wsgikit.servers.fastcgi import FastCGIConn, FastCGIServer

pytestmark = pytest.mark.integration

# -- the app every gateway peer test serves (imported by the SCGI, Apache and cgi-fcgi tests) ----

RELEASE = threading.Event()  # the streaming app's second part waits for the test to see the first


def gateway_app(environ: Any, start_response: Any) -> Iterable[bytes]:
    """``.../env``: the str environ as JSON; ``echo``: the body's size and hash; ``stream``: two
    parts, the second once the test saw the first; ``error``: raises."""
    action = environ["PATH_INFO"].rsplit("/", 1)[-1]
    if action == "error":
        raise RuntimeError("peer kaboom")
    if action == "stream":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Accel-Buffering", "no")])
        return _stream()
    data: dict[str, Any] = {k: v for k, v in environ.items() if isinstance(v, str)}
    if action == "echo":
        digest, length = hashlib.sha256(), 0
        while chunk := environ["wsgi.input"].read(65536):
            digest.update(chunk)
            length += len(chunk)
        data = {
            "length": length,
            "sha256": digest.hexdigest(),
            "content_length": environ.get("CONTENT_LENGTH"),
            "transfer_encoding": environ.get("HTTP_TRANSFER_ENCODING"),
        }
    body = json.dumps(data).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def _stream() -> Iterator[bytes]:
    yield b"first\n"
    RELEASE.wait(10)
    yield b"last\n"


class CountingConn(FastCGIConn):
    server: CountingServer

    def __init__(self, server: EventServer, sock: socket.socket, info: ConnectionInfo) -> None:
        super().__init__(server, sock, info)
        self.server.accepted += 1


class CountingServer(FastCGIServer):
    """A FastCGIServer that counts the connections it accepted."""

    connection_class = CountingConn
    accepted = 0


@contextmanager
def in_thread(server: EventServer) -> Iterator[EventServer]:
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(timeout=10)


def port_of(server: EventServer) -> int:
    port: int = server.addresses[0][1]
    return port


# -- checks every gateway peer test makes ---------------------------------------------------------


def check_get(url: str) -> None:
    response = requests.get(url + "/hello/env?x=1", timeout=10)
    assert response.status_code == 200
    environ = response.json()
    assert (environ["REQUEST_METHOD"], environ["QUERY_STRING"]) == ("GET", "x=1")
    assert environ["PATH_INFO"].endswith("/hello/env")


def check_large_post(url: str) -> None:
    body = os.urandom(3 << 20)
    got = requests.post(url + "/echo", data=body, timeout=30).json()
    assert (got["length"], got["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    assert got["content_length"] == str(len(body))


def check_chunked_upload(url: str, *, buffered: bool = True) -> None:
    """A chunked upload arrives whole, never with Transfer-Encoding. ``buffered``: the web server
    reads it all first and sends CONTENT_LENGTH (nginx); else the body streams and wsgi.input
    ends with the stream (Apache's mod_proxy_fcgi sends no CONTENT_LENGTH)."""
    parts = [os.urandom(100_000) for _ in range(12)]
    got = requests.post(url + "/echo", data=iter(parts), timeout=30).json()
    body = b"".join(parts)
    assert (got["length"], got["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    expected = str(len(body)) if buffered else None
    assert (got["content_length"], got["transfer_encoding"]) == (expected, None)


def check_streamed_response(url: str) -> None:
    RELEASE.clear()
    try:
        with requests.get(url + "/stream", stream=True, timeout=10) as response:
            pieces = response.iter_content(chunk_size=None)
            assert next(pieces) == b"first\n"  # arrived while the app was still waiting
            RELEASE.set()
            assert b"".join(pieces) == b"last\n"
    finally:
        RELEASE.set()


def check_app_error(url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, "wsgikit.error"):
        response = requests.get(url + "/error", timeout=10)
    assert response.status_code == 500
    assert "kaboom" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError: peer kaboom" in caplog.text


def nginx_params(name: str) -> str:
    """The path of nginx's stock ``fastcgi_params`` or ``scgi_params`` (the ones users include)."""
    folders = ("/etc/nginx", "/usr/local/nginx/conf", "/usr/local/etc/nginx")
    found = [os.path.join(f, name) for f in folders if os.path.exists(os.path.join(f, name))]
    if not found:
        missing(f"nginx's stock {name} file is not installed")
    return found[0]


def mount(url: str) -> tuple[str, str]:
    environ = requests.get(url, timeout=10).json()
    return environ["SCRIPT_NAME"], environ["PATH_INFO"]


# -- nginx → FastCGI ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backends(peer_root: Path) -> Iterator[dict[str, CountingServer]]:
    app = validator(gateway_app)
    sock = peer_root / "fastcgi.sock"
    servers = {
        "keep": CountingServer(app, ["127.0.0.1:0"], threads=4),
        "close": CountingServer(app, ["127.0.0.1:0"], threads=4),
        "mnt": CountingServer(app, ["127.0.0.1:0"], threads=4, script_name="/mnt"),
        "unix": CountingServer(app, [f"unix:{sock}"], threads=4, unix_mode=0o666),
    }
    with in_thread(servers["keep"]), in_thread(servers["close"]):
        with in_thread(servers["mnt"]), in_thread(servers["unix"]):
            yield servers


@pytest.fixture(scope="module")
def site(nginx: Starter, backends: dict[str, CountingServer], peer_root: Path) -> Peer:
    keep, close, mnt = (port_of(backends[name]) for name in ("keep", "close", "mnt"))
    sock = peer_root / "fastcgi.sock"
    params = nginx_params("fastcgi_params")
    http = f"upstream keep {{ server 127.0.0.1:{keep}; keepalive 4; }}"
    server = f"""
        client_max_body_size 16m;
        location /keep/ {{ include {params}; fastcgi_pass keep; fastcgi_keep_conn on; }}
        location /close/ {{ include {params}; fastcgi_pass 127.0.0.1:{close}; }}
        location /mnt/ {{ include {params}; fastcgi_pass 127.0.0.1:{mnt}; }}
        location /unix/ {{ include {params}; fastcgi_pass unix:{sock}; }}
        location /split/ {{
            include {params};
            fastcgi_split_path_info ^(/split)(/.*)$;
            fastcgi_param SCRIPT_NAME $fastcgi_script_name;
            fastcgi_param PATH_INFO $fastcgi_path_info;
            fastcgi_pass keep;
            fastcgi_keep_conn on;
        }}
    """
    return nginx(server, http=http)


MODES = [pytest.param("keep", id="keep-conn-on"), pytest.param("close", id="keep-conn-off")]


@pytest.mark.parametrize("mode", MODES)
def test_get(site: Peer, mode: str) -> None:
    check_get(site.url(f"/{mode}"))


@pytest.mark.parametrize("mode", MODES)
def test_post_large_body(site: Peer, mode: str) -> None:
    check_large_post(site.url(f"/{mode}"))


@pytest.mark.parametrize("mode", MODES)
def test_chunked_upload_arrives_with_content_length(site: Peer, mode: str) -> None:
    check_chunked_upload(site.url(f"/{mode}"))


@pytest.mark.parametrize("mode", MODES)
def test_streamed_response(site: Peer, mode: str) -> None:
    check_streamed_response(site.url(f"/{mode}"))


@pytest.mark.parametrize("mode", MODES)
def test_app_error(site: Peer, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    check_app_error(site.url(f"/{mode}"), caplog)


def test_keep_conn_on_reuses_one_connection(
    site: Peer, backends: dict[str, CountingServer]
) -> None:
    check_get(site.url("/keep"))  # nginx now holds an idle connection
    before = backends["keep"].accepted
    for _ in range(5):
        check_get(site.url("/keep"))
    assert backends["keep"].accepted == before


def test_keep_conn_off_closes_each_connection(
    site: Peer, backends: dict[str, CountingServer]
) -> None:
    before = backends["close"].accepted
    for _ in range(3):
        check_get(site.url("/close"))
    assert backends["close"].accepted == before + 3


def test_unix_socket_bind(site: Peer) -> None:
    check_get(site.url("/unix"))


def test_stock_params_with_script_name_option(site: Peer) -> None:
    assert mount(site.url("/mnt/a%20b/env")) == ("/mnt", "/a b/env")


def test_stock_params_without_the_option_mount_at_the_root(site: Peer) -> None:
    assert mount(site.url("/keep/x/env")) == ("", "/keep/x/env")


def test_documented_split_config_needs_no_option(site: Peer) -> None:
    assert mount(site.url("/split/a%20b/env")) == ("/split", "/a b/env")


def test_server_name_and_request_uri(site: Peer) -> None:
    environ = requests.get(site.url("/keep/p%20q/env?z=1"), timeout=10).json()
    assert environ["REQUEST_URI"] == "/keep/p%20q/env?z=1"
    assert environ["SERVER_NAME"] == "localhost"
    assert environ["wsgi.url_scheme"] == "http"


def test_nginx_saw_no_upstream_problems(site: Peer) -> None:
    check_get(site.url("/keep"))
    log = site.log()
    problems = [line for line in log.splitlines() if "upstream" in line or "[error]" in line]
    assert not problems, log
