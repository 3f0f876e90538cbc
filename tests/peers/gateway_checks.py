"""The app every gateway peer test serves and the checks they share (FastCGI through nginx and
Apache, SCGI through nginx, AJP through Apache, cgi-fcgi): validated on the server side, one check
per behaviour. A module behind a web server runs the shared checks as tests by subclassing
:class:`ThroughWebServer` (and :class:`MountPoints`) with its own ``site`` fixture::

    class TestThroughNginx(ThroughWebServer, MountPoints):
        prefix = "/scgi"  # leads to gateway_app at the root; /mnt/ to it with script_name="/mnt"
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar
from wsgiref.validate import validator

import pytest
import requests

from tests.peers.helpers import Peer, missing
from wsgikit.gateway import ConnectionInfo
from wsgikit.servers._loop import EventServer
from wsgikit.servers.fastcgi import FastCGIServer

# -- the app ------------------------------------------------------------------------------------

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


S = TypeVar("S", bound=EventServer)


def counting(server_class: type[S]) -> type[S]:
    """A subclass of ``server_class`` whose ``accepted`` counts the connections it accepted."""
    base: Any = server_class.connection_class

    class CountingConn(base):  # type: ignore[misc, valid-type]
        def __init__(self, server: Any, sock: socket.socket, info: ConnectionInfo) -> None:
            super().__init__(server, sock, info)
            server.accepted += 1

    attributes = {"connection_class": CountingConn, "accepted": 0}
    return type(f"Counting{server_class.__name__}", (server_class,), attributes)


CountingServer = counting(FastCGIServer)


@contextmanager
def in_thread(server: EventServer) -> Iterator[EventServer]:
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(timeout=10)


@contextmanager
def running_all(servers: dict[str, S]) -> Iterator[dict[str, S]]:
    """Run each of ``servers`` in a thread of its own; stop them all after."""
    with ExitStack() as stack:
        for server in servers.values():
            stack.enter_context(in_thread(server))
        yield servers


def root_and_mount(server_class: Callable[..., S], **options: Any) -> dict[str, S]:
    """``gateway_app`` (validated) served twice: "root" and "mnt" (``script_name="/mnt"``)."""
    app = validator(gateway_app)
    return {
        "root": server_class(app, ["127.0.0.1:0"], threads=4, **options),
        "mnt": server_class(app, ["127.0.0.1:0"], threads=4, script_name="/mnt", **options),
    }


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


def check_chunked_upload(url: str) -> None:
    """A chunked upload arrives whole with its CONTENT_LENGTH, never with Transfer-Encoding:
    nginx reads it all first and sends CONTENT_LENGTH; Apache's mod_proxy_fcgi streams it and
    sends none, and wsgikit, which reads all of stdin before the app runs, sets it (apps such as
    Django read CONTENT_LENGTH bytes, and nothing without it)."""
    parts = [os.urandom(100_000) for _ in range(12)]
    got = requests.post(url + "/echo", data=iter(parts), timeout=30).json()
    body = b"".join(parts)
    assert (got["length"], got["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    assert (got["content_length"], got["transfer_encoding"]) == (str(len(body)), None)


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


# -- the shared checks as tests, for a module with a ``site`` fixture (a web server in front) ------


class ThroughWebServer:
    """The checks every gateway makes behind a web server: ``prefix`` leads to ``gateway_app``."""

    prefix = ""

    def test_get(self, site: Peer) -> None:
        check_get(site.url(self.prefix))

    def test_post_large_body(self, site: Peer) -> None:
        check_large_post(site.url(self.prefix))

    def test_chunked_upload_arrives_with_content_length(self, site: Peer) -> None:
        check_chunked_upload(site.url(self.prefix))

    def test_streamed_response(self, site: Peer) -> None:
        check_streamed_response(site.url(self.prefix))

    def test_app_error(self, site: Peer, caplog: pytest.LogCaptureFixture) -> None:
        check_app_error(site.url(self.prefix), caplog)


class MountPoints:
    """``prefix`` leads to ``gateway_app`` mounted at the root (the web server sends the whole
    path), /mnt/ to it with ``script_name="/mnt"``."""

    prefix = ""

    def test_script_name_option_mounts_the_app(self, site: Peer) -> None:
        assert mount(site.url("/mnt/a%20b/env")) == ("/mnt", "/a b/env")

    def test_without_the_option_the_app_is_mounted_at_the_root(self, site: Peer) -> None:
        assert mount(site.url(f"{self.prefix}/x/env")) == ("", f"{self.prefix}/x/env")

    def test_request_uri_is_kept(self, site: Peer) -> None:
        environ = requests.get(site.url(f"{self.prefix}/p%20q/env?z=1"), timeout=10).json()
        assert environ["REQUEST_URI"] == f"{self.prefix}/p%20q/env?z=1"
