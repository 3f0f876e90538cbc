"""--proxy-protocol with TLS: the PROXY header comes first, then the client's TLS (a load balancer
passing TLS through), read off the raw socket without taking a byte of the ClientHello."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.integration import free_port
from tests.peers.helpers import Peer, running
from tests.servers import helpers
from tests.servers.test_proxy_protocol import GET, UNTRUSTING, responses
from tests.servers.tls_helpers import Certs, client_context, tls_running
from tests.test_proxyproto import V1_TCP4, V2_INET, V2_INET6, V2_LOCAL
from wsgikit.servers.proxy_protocol import ProxyProtocolServer
from wsgikit.types import StartResponse, WSGIEnvironment

ROOT = str(Path(__file__).resolve().parents[2])
CLIENT = ["198.51.100.1", "56324", "https"]


def echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    keys = ("REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme")
    body = json.dumps([environ.get(key) for key in keys]).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


@pytest.fixture(params=[pytest.param(2, id="threads"), pytest.param(0, id="inline")])
def proxied(request: pytest.FixtureRequest, certs: Certs) -> Callable[..., Any]:
    def start(**options: Any) -> Any:
        options.setdefault("threads", request.param)
        return tls_running(echo, certs, server_class=ProxyProtocolServer, **options)

    return start


def tls_after(sock: socket.socket, header: bytes, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    """Send ``header`` on ``sock``, then speak TLS on it (as a load balancer passes it through)."""
    sock.sendall(header)
    return ctx.wrap_socket(sock, server_hostname="localhost")


class BioClient:
    """A TLS client on memory BIOs: its ClientHello can go out in the same write as the header."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext) -> None:
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    def handshake(self, header: bytes) -> None:
        first = header
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(first + self.outgoing.read())
                first = b""
                self.pump()
        self.sock.sendall(self.outgoing.read())

    def pump(self) -> None:
        data = self.sock.recv(65536)
        assert data, "the server closed the connection"
        self.incoming.write(data)

    def request(self, raw: bytes) -> Any:
        self.tls.write(raw)
        self.sock.sendall(self.outgoing.read())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"]"):
            try:
                answer += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.pump()
        return json.loads(answer.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("header", [V1_TCP4, V2_INET], ids=["v1", "v2"])
def test_the_client_address_holds_for_every_request_over_tls(
    proxied: Callable[..., Any], certs: Certs, header: bytes
) -> None:
    with proxied() as srv, tls_after(srv.connect(), header, client_context(certs)) as sock:
        sock.sendall(GET)
        first = responses(sock, 1)
        sock.sendall(GET + GET)  # keep-alive and pipelined: one header for the connection
        assert [first[0], *responses(sock, 2)] == [CLIENT] * 3


@pytest.mark.parametrize("header", [V1_TCP4, V2_INET], ids=["v1", "v2"])
def test_the_client_hello_in_the_same_write_as_the_header(
    proxied: Callable[..., Any], certs: Certs, header: bytes
) -> None:
    with proxied() as srv, srv.connect() as sock:
        client = BioClient(sock, client_context(certs))
        client.handshake(header)  # header + ClientHello in one segment: none of it is lost
        assert client.request(GET) == CLIENT


def test_a_header_in_single_bytes_then_tls(proxied: Callable[..., Any], certs: Certs) -> None:
    with proxied() as srv, srv.connect() as raw:
        for byte in V2_INET6:
            raw.send(bytes([byte]))
        with client_context(certs).wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(GET)
            assert responses(sock, 1) == [["2001:db8::1", "1", "https"]]


def test_a_header_without_a_client_keeps_the_peer_over_tls(
    proxied: Callable[..., Any], certs: Certs
) -> None:
    with proxied() as srv, tls_after(srv.connect(), V2_LOCAL, client_context(certs)) as sock:
        sock.sendall(GET)
        peer = sock.getsockname()
        assert responses(sock, 1) == [[peer[0], str(peer[1]), "https"]]


def test_tls_without_the_header_from_a_trusted_peer_is_closed_with_a_log_line(
    proxied: Callable[..., Any], certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wsgikit.error"), proxied() as srv:
        with pytest.raises((ssl.SSLError, OSError)):  # no handshake: the ClientHello is no header
            tls_after(srv.connect(), b"", client_context(certs)).close()
    assert any("no PROXY protocol header" in r.getMessage() for r in caplog.records)


def closed_silently(server: Any, sends: bytes, caplog: pytest.LogCaptureFixture) -> str:
    """Connect to ``server`` (not yet entered), send ``sends`` raw, see it close without a byte
    of answer (no plain-HTTP answer on a TLS port); the log lines it wrote meanwhile."""
    with caplog.at_level(logging.INFO, logger="wsgikit.error"):
        with server as srv, srv.connect(20) as sock:
            sock.sendall(sends)
            assert helpers.read_all(sock) == b""
    return "\n".join(r.getMessage() for r in caplog.records)


def test_a_header_from_an_untrusted_peer_is_closed_with_a_log_line(
    proxied: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    log = closed_silently(proxied(proxies=UNTRUSTING), V1_TCP4, caplog)
    assert "PROXY protocol header from a peer that is not a trusted proxy" in log


def test_a_header_that_never_ends_is_closed_at_the_header_timeout(
    proxied: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    log = closed_silently(proxied(header_timeout=0.3, idle_timeout=60), V1_TCP4[:20], caplog)
    assert "no PROXY header in time" in log


def test_a_handshake_that_stalls_after_the_header_is_closed_at_the_header_timeout(
    proxied: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    half_a_hello = b"\x16\x03\x01\x02\x00\x01"
    server = proxied(header_timeout=0.3, idle_timeout=60)
    log = closed_silently(server, V1_TCP4 + half_a_hello, caplog)
    assert "198.51.100.1: 408 request head not received in time" in log  # the header's client


def test_wsgikit_serve_proxy_protocol_with_certfile(tmp_path: Path, certs: Certs) -> None:
    peer = Peer("wsgikit serve", free_port(), tmp_path, tmp_path / "console.log")
    argv = [sys.executable, "-m", "wsgikit", "serve", f"{__name__}:echo", "--pythonpath", ROOT]
    argv += ["--bind", f"127.0.0.1:{peer.port}", "--proxy-protocol", "--threads", "0"]
    argv += ["--certfile", str(certs.cert), "--keyfile", str(certs.key)]
    with running(peer, argv), socket.create_connection(("127.0.0.1", peer.port), 10) as raw:
        with tls_after(raw, V2_INET, client_context(certs)) as sock:
            sock.sendall(GET)
            assert responses(sock, 1) == [CLIENT]
