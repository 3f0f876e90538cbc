"""Request bodies on the FastCGI and SCGI servers: read whole before the app runs (memory, then
temporary files), CONTENT_LENGTH made right, bodies that end short or run long answered by the
server without calling the app."""

from __future__ import annotations

import hashlib
import socket
from typing import Any

import pytest

from tests.servers.fastcgi_helpers import running as fcgi_running
from tests.servers.fcgi_client import request
from tests.servers.helpers import read_all, running, wait_for
from wsgikit.servers.scgi import SCGIServer

MODES = [
    pytest.param({"threads": 2}, id="threads"),
    pytest.param({"threads": 0}, id="inline"),
    pytest.param({"threads": 2, "buffer_bodies": False}, id="stream"),
]


def digest(environ: Any, start_response: Any) -> list[bytes]:
    """One read(CONTENT_LENGTH), as Django does; the hash and what CONTENT_LENGTH said."""
    length = environ.get("CONTENT_LENGTH")
    data = environ["wsgi.input"].read(int(length)) if length else b""
    body = f"{length}|{len(data)}|{hashlib.sha256(data).hexdigest()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def expected(data: bytes) -> bytes:
    return f"{len(data)}|{len(data)}|{hashlib.sha256(data).hexdigest()}".encode()


@pytest.mark.parametrize("mode", MODES)
def test_fastcgi_body_in_many_records_reaches_one_read_whole(mode: dict[str, Any]) -> None:
    body = bytes(range(256)) * 2000  # 512 KB in records of at most 65,535 bytes
    with fcgi_running(digest, **mode) as srv:
        response = srv.exchange(request(body=body))
    assert response.status == "Status: 200 OK"
    assert response.body == expected(body)


@pytest.mark.parametrize("mode", MODES[:2])
def test_fastcgi_stdin_without_content_length_gets_one(mode: dict[str, Any]) -> None:
    body = b"chunked upload from a web server that streams it" * 100
    raw = request(body=body, CONTENT_LENGTH="")
    with fcgi_running(digest, **mode) as srv:
        response = srv.exchange(raw)
    assert response.body == expected(body)


@pytest.mark.parametrize("mode", MODES)
def test_fastcgi_stdin_shorter_than_content_length_is_400_without_the_app(
    mode: dict[str, Any],
) -> None:
    calls: list[str] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        return digest(environ, start_response)

    with fcgi_running(app, **mode) as srv:
        response = srv.exchange(request(body=b"only this", CONTENT_LENGTH="100"))
    assert response.status == "Status: 400 Bad Request"
    if mode.get("buffer_bodies", True):
        assert calls == []  # the whole stdin was in: the server knew before calling the app


def test_fastcgi_stdin_over_max_body_is_413_without_the_app() -> None:
    calls: list[str] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        return digest(environ, start_response)

    with fcgi_running(app, max_body=1000) as srv:
        response = srv.exchange(request(body=b"x" * 5000))
        assert srv.exchange(request(body=b"y" * 1000)).body == expected(b"y" * 1000)
    assert response.status.startswith("Status: 413 ")
    assert len(calls) == 1


@pytest.mark.parametrize("threads", [2, 0], ids=["threads", "inline"])
def test_fastcgi_big_stdin_goes_to_a_file_not_memory(threads: int) -> None:
    body = b"f" * (3 << 20)
    seen: list[int] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        seen.append(srv.server.body_memory.used)
        return digest(environ, start_response)

    with fcgi_running(app, threads=threads) as srv:
        response = srv.exchange(request(body=body))
    assert response.body == expected(body)
    assert seen[0] <= 1 << 16  # at most one body's in-memory part, the rest was spooled


# -- SCGI ------------------------------------------------------------------------------------


def scgi_request(body: bytes, **headers: str) -> bytes:
    fields = {"CONTENT_LENGTH": str(len(body)), "SCGI": "1", "REQUEST_METHOD": "POST"}
    fields.update(headers)
    head = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in fields.items())
    return b"%d:%s," % (len(head), head) + body


def scgi(app: Any, **options: Any) -> Any:
    options.setdefault("threads", 2)
    return running(app, server_class=SCGIServer, **options)


@pytest.mark.parametrize("mode", MODES)
def test_scgi_body_arriving_in_pieces_reaches_one_read_whole(mode: dict[str, Any]) -> None:
    body = bytes(range(256)) * 4000  # 1 MB
    raw = scgi_request(body)
    with scgi(digest, **mode) as srv, srv.connect() as sock:
        for start in range(0, len(raw), 7777):
            sock.sendall(raw[start : start + 7777])
        answer = read_all(sock)
    assert answer.startswith(b"Status: 200 OK\r\n")
    assert answer.endswith(b"\r\n\r\n" + expected(body))


@pytest.mark.parametrize("threads", [2, 0], ids=["threads", "inline"])
def test_scgi_waiting_bodies_are_spooled_past_the_memory_budget(threads: int) -> None:
    """A 40 MB upload that stalls halfway holds 64 KiB of memory, not 20 MB."""
    raw = scgi_request(b"s" * (40 << 20))
    with scgi(digest, threads=threads) as srv:
        with socket.create_connection((srv.host, srv.port), timeout=30) as upload:
            upload.sendall(raw[: 20 << 20])
            conns = srv.server.conns
            assert wait_for(lambda: any(c.body.size >= 19 << 20 for c in list(conns.values())))
            assert srv.server.body_memory.used <= 1 << 16
