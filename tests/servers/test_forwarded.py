"""The servers apply trusted proxy headers (--forwarded-allow-ips): HTTP, FastCGI and SCGI."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from collections.abc import Iterable
from typing import Any

import pytest

from tests.servers import helpers
from tests.servers.fcgi_client import request as fcgi_request
from tests.servers.test_scgi import running as scgi_running
from tests.servers.test_scgi import scgi
from wsgikit._forwarded import TrustedProxies
from wsgikit.servers.http import Server
from wsgikit.types import StartResponse, WSGIEnvironment

Serve = Any
SEEN = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_X_FORWARDED_FOR", "HTTP_HOST")
SPOOF = b"X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-Proto: https\r\n"


def echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    body = json.dumps({key: environ.get(key) for key in SEEN}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def answer(raw: bytes) -> dict[str, Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), raw
    found: dict[str, Any] = json.loads(body)
    return found


def get(srv: Any, headers: bytes = SPOOF) -> dict[str, Any]:
    return answer(
        srv.request(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + headers + b"\r\n")
    )


def test_by_default_a_local_proxy_is_believed(serve: Serve) -> None:
    with serve(echo) as srv:
        env = get(srv)
    assert (env["REMOTE_ADDR"], env["wsgi.url_scheme"]) == ("198.51.100.1", "https")


def test_spoofing_from_a_peer_not_allowed_changes_nothing(serve: Serve) -> None:
    with serve(echo, proxies=TrustedProxies(trusted=["10.0.0.0/8"])) as srv:
        env = get(srv)
    assert env == {
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "HTTP_X_FORWARDED_FOR": None,
        "HTTP_HOST": "a",
    }


def test_without_proxies_the_headers_pass_through_untouched(serve: Serve) -> None:
    with serve(echo, proxies=None) as srv:
        env = get(srv)
    assert (env["REMOTE_ADDR"], env["HTTP_X_FORWARDED_FOR"]) == ("127.0.0.1", "198.51.100.1")


def test_hop_counts_apply_in_the_server(serve: Serve) -> None:
    proxies = TrustedProxies(trusted="*", x_for=2, x_host=1)
    headers = (
        b"X-Forwarded-For: 6.6.6.6, 198.51.100.1, 10.0.0.1\r\nX-Forwarded-Host: shop.example\r\n"
    )
    with serve(echo, proxies=proxies) as srv:
        env = get(srv, headers)
    assert (env["REMOTE_ADDR"], env["HTTP_HOST"]) == ("198.51.100.1", "shop.example")


def test_a_malformed_header_is_ignored_not_a_500(serve: Serve) -> None:
    with serve(echo) as srv:
        env = get(srv, b"X-Forwarded-For: <script>\r\nX-Forwarded-Proto: https\r\n")
    # the bad address is ignored, the good scheme next to it still believed
    assert (env["REMOTE_ADDR"], env["wsgi.url_scheme"]) == ("127.0.0.1", "https")


def test_a_unix_socket_peer_is_trusted_whatever_the_list() -> None:
    path = os.path.join(tempfile.mkdtemp(prefix="wk-proxy-"), "s")
    server = Server(echo, [f"unix:{path}"], threads=2, proxies=TrustedProxies(trusted="10.0.0.1"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + SPOOF + b"\r\n")
            env = answer(helpers.read_all(sock))
    finally:
        server.stop()
        thread.join(10)
    assert env["REMOTE_ADDR"] == "198.51.100.1"


def test_fastcgi_judges_the_web_servers_remote_addr(fcgi_serve: Serve) -> None:
    forwarded = {"HTTP_X_FORWARDED_FOR": "198.51.100.1", "HTTP_X_FORWARDED_PROTO": "https"}
    with fcgi_serve(echo, proxies=TrustedProxies(trusted=["192.0.2.0/24"])) as srv:
        trusted = json.loads(srv.exchange(fcgi_request(**forwarded)).body)
        spoofed = json.loads(
            srv.exchange(fcgi_request(REMOTE_ADDR="203.0.113.9", **forwarded)).body
        )
    assert (trusted["REMOTE_ADDR"], trusted["wsgi.url_scheme"]) == ("198.51.100.1", "https")
    assert (spoofed["REMOTE_ADDR"], spoofed["HTTP_X_FORWARDED_FOR"]) == ("203.0.113.9", None)


@pytest.mark.parametrize("peer", ["192.0.2.1", "203.0.113.9"])
def test_scgi_judges_the_web_servers_remote_addr(peer: str) -> None:
    with scgi_running(echo, proxies=TrustedProxies(trusted=["192.0.2.1"])) as srv:
        raw = srv.request(scgi(REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR="198.51.100.1"))
    env = json.loads(raw.partition(b"\r\n\r\n")[2])
    assert env["REMOTE_ADDR"] == ("198.51.100.1" if peer == "192.0.2.1" else peer)
