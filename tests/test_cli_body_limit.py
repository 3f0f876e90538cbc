"""The request body limit of ``serve``, ``fcgi``, ``scgi`` and ``ajp`` (``--limit-body``): 1 GiB
unless told otherwise (waitress's default; bodies past memory spool to disk), ``0`` or ``none``
for no limit; a body over it gets 413, from real server processes."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.ajp_client import exchange
from tests.servers.fcgi_client import Client, request
from tests.test_cli import run, site, start_server
from wsgikit._ajp import encode_request as ajp_request

__all__ = ["site"]  # the fixture, used by name

GIB = 1 << 30


def _first_line(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        return sock.recv(65536).split(b"\r\n", 1)[0]


@contextlib.contextmanager
def _server(site: Path, command: str, *extra: str) -> Iterator[int]:
    """``wsgikit COMMAND wk_cli_apps:app EXTRA`` as a subprocess; its port."""
    scheme = "http" if command == "serve" else command
    proc, port = start_server(site, "wk_cli_apps:app", *extra, command=command, scheme=scheme)
    try:
        yield port
    finally:
        proc.kill()
        proc.communicate()


def _head(length: int) -> bytes:
    """A POST head that declares ``length`` body bytes and waits for 100 Continue."""
    return b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (
        length
    )


@pytest.mark.parametrize(
    ("extra", "length", "first_line"),
    [
        pytest.param((), GIB + 1, b"HTTP/1.1 413 Request Entity Too Large", id="default-over"),
        pytest.param(("--limit-body", "0"), GIB + 1, b"HTTP/1.1 100 Continue", id="0-no-limit"),
        pytest.param(("--limit-body", "none"), 8 * GIB, b"HTTP/1.1 100 Continue", id="none"),
    ],
)
def test_serve_refuses_bodies_over_1_gib_unless_told(
    site: Path, extra: tuple[str, ...], length: int, first_line: bytes
) -> None:
    with _server(site, "serve", *extra) as port:
        assert _first_line(port, _head(length)) == first_line


def test_scgi_refuses_a_body_over_1_gib_by_default(site: Path) -> None:
    block = b"CONTENT_LENGTH\0%d\0SCGI\x001\0REQUEST_METHOD\0POST\0" % (GIB + 1)
    with _server(site, "scgi") as port:  # the header block only: the limit is checked first
        assert _first_line(port, b"%d:%s," % (len(block), block)).startswith(b"Status: 413")


def test_fcgi_takes_limit_body(site: Path) -> None:
    with _server(site, "fcgi", "--limit-body", "10") as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            client = Client(sock)
            client.send(request(1, body=b"x" * 11, SERVER_NAME="a"))
            assert client.response(1).status.startswith("Status: 413")


def test_ajp_takes_limit_body(site: Path) -> None:
    with _server(site, "ajp", "--limit-body", "10") as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            head = ajp_request("POST", b"/", [(b"Content-Length", b"11")])
            assert exchange(sock, head, b"x" * 11).status == 413


@pytest.mark.parametrize("command", ["serve", "fcgi", "scgi", "ajp"])
def test_the_help_and_print_config_show_the_limit(
    site: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert 'limit_body = "1GiB"  # default' in run(capsys, command, "a:b", "--print-config")[1]
    help_text = " ".join(run(capsys, command, "--help")[1].split())
    assert "--limit-body SIZE largest request body -> 413; 0 or none: no limit" in help_text
