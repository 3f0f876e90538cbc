"""serve --proxy-protocol: a PROXY header (v1 or v2) once per connection, from trusted peers."""

from __future__ import annotations

import json
import logging
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.integration import free_port
from tests.peers.helpers import Peer, running
from tests.servers import helpers
from tests.test_proxyproto import V1_TCP4, V1_TCP6, V2_INET, V2_INET6, V2_LOCAL, V2_TLVS, V2_UNIX
from wsgikit._forwarded import TrustedProxies
from wsgikit.servers.proxy_protocol import ProxyProtocolServer
from wsgikit.types import StartResponse, WSGIEnvironment

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
UNTRUSTING = TrustedProxies(trusted="10.0.0.0/8")
ROOT = str(Path(__file__).resolve().parents[2])


def echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    body = json.dumps([environ["REMOTE_ADDR"], environ.get("REMOTE_PORT")]).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


@pytest.fixture(params=[pytest.param(2, id="threads"), pytest.param(0, id="inline")])
def proxied(request: pytest.FixtureRequest) -> Callable[..., Any]:
    def start(**options: Any) -> Any:
        options.setdefault("threads", request.param)
        return helpers.running(echo, server_class=ProxyProtocolServer, **options)

    return start


def responses(sock: socket.socket, count: int) -> list[Any]:
    """Read ``count`` responses (each with Content-Length) from a keep-alive connection."""
    found, data = [], b""
    while len(found) < count:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(rest) >= length:
                assert head.startswith(b"HTTP/1.1 200"), head
                found.append(json.loads(rest[:length]))
                data = rest[length:]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(found)} responses"
        data += chunk
    return found


@pytest.mark.parametrize(
    ("header", "client"),
    [
        pytest.param(V1_TCP4, ["198.51.100.1", "56324"], id="v1-tcp4"),
        pytest.param(V1_TCP6, ["2001:db8::1", "1"], id="v1-tcp6"),
        pytest.param(V2_INET, ["198.51.100.1", "56324"], id="v2-inet"),
        pytest.param(V2_INET6, ["2001:db8::1", "1"], id="v2-inet6"),
        pytest.param(V2_TLVS, ["198.51.100.1", "1"], id="v2-tlvs-skipped"),
    ],
)
def test_the_client_address_holds_for_every_request_on_the_connection(
    proxied: Callable[..., Any], header: bytes, client: list[str]
) -> None:
    with proxied() as srv, srv.connect() as sock:
        sock.sendall(header + GET)
        first = responses(sock, 1)
        sock.sendall(GET + GET)  # keep-alive and pipelined: no header again (gunicorn#899)
        assert [first[0], *responses(sock, 2)] == [client] * 3


@pytest.mark.parametrize(
    "header", [V2_LOCAL, V2_UNIX, b"PROXY UNKNOWN\r\n"], ids=["local", "unix", "unknown"]
)
def test_a_header_without_a_client_keeps_the_peer(
    proxied: Callable[..., Any], header: bytes
) -> None:
    with proxied() as srv, srv.connect() as sock:
        sock.sendall(header + GET)
        assert responses(sock, 1)[0][0] == "127.0.0.1"


def test_a_header_in_single_bytes(proxied: Callable[..., Any]) -> None:
    with proxied() as srv, srv.connect() as sock:
        for byte in V2_INET + GET:
            sock.send(bytes([byte]))
        assert responses(sock, 1) == [["198.51.100.1", "56324"]]


@pytest.mark.parametrize(
    "start",
    [GET, b"PROXY TCP4 1.2.3.4 nope 1 2\r\n" + GET, V2_INET[:12] + b"\x31" + V2_INET[13:] + GET],
    ids=["missing", "malformed-v1", "malformed-v2"],
)
def test_a_missing_or_malformed_header_closes_with_a_log_line(
    proxied: Callable[..., Any], start: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wsgikit.error"), proxied() as srv:
        assert srv.request(start) == b""
    assert [r.getMessage() for r in caplog.records if "closing connection" in r.getMessage()]


def test_a_header_from_an_untrusted_peer_is_a_400(proxied: Callable[..., Any]) -> None:
    with proxied(proxies=UNTRUSTING) as srv:
        answer = srv.request(V1_TCP4 + GET)
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_an_untrusted_peer_without_a_header_is_served_as_itself(
    proxied: Callable[..., Any],
) -> None:
    with proxied(proxies=UNTRUSTING) as srv, srv.connect() as sock:
        sock.sendall(b"P")  # as PROXY or POST: the server waits to tell
        sock.sendall(b"OST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
        assert responses(sock, 1) == [["127.0.0.1", str(sock.getsockname()[1])]]


def test_the_forwarded_headers_are_then_judged_by_the_client_address(
    proxied: Callable[..., Any],
) -> None:
    with proxied() as srv, srv.connect() as sock:  # the client 198.51.100.1 is no trusted proxy
        sock.sendall(V1_TCP4 + b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
        assert responses(sock, 1) == [["198.51.100.1", "56324"]]


def test_a_header_that_never_ends_is_closed_at_the_header_timeout(
    proxied: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wsgikit.error"):
        with proxied(header_timeout=0.2) as srv, srv.connect() as sock:
            sock.sendall(V1_TCP4[:20])
            assert helpers.read_all(sock) == b""  # closed, no HTTP answer to a proxy
    assert any("no PROXY header in time" in r.getMessage() for r in caplog.records)


def test_wsgikit_serve_proxy_protocol_from_the_command_line(tmp_path: Path) -> None:
    peer = Peer("wsgikit serve", free_port(), tmp_path, tmp_path / "console.log")
    argv = [sys.executable, "-m", "wsgikit", "serve", f"{__name__}:echo", "--pythonpath", ROOT]
    argv += ["--bind", f"127.0.0.1:{peer.port}", "--proxy-protocol", "--threads", "0"]
    with running(peer, argv), socket.create_connection(("127.0.0.1", peer.port), 10) as sock:
        sock.sendall(V2_INET6 + GET)
        assert responses(sock, 1) == [["2001:db8::1", "1"]]
