"""The request-body matrix: a raw HTTP/1.1 client that uploads a body the hard ways, and the cases.

:func:`post` sends with Content-Length or ``Transfer-Encoding: chunked``, the bytes written in
pieces of uneven size with pauses between the first ones (so a server gets them in many reads,
chunk-size lines split across reads), optionally with ``Expect: 100-continue``: then it waits for
the 100 before sending, as curl does, and sends anyway after 1 s. :data:`MATRIX` lists the cases
every server and gateway runs against :func:`tests.body_contract.contract_app`::

    @pytest.mark.parametrize("case", MATRIX)
    def test_body(srv, case):
        answer = post(srv.host, srv.port, case.target, case.body, chunked=..., expect=...)
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import cycle
from typing import Any

import pytest

from tests.body_contract import check, lines_body, random_body

KB = 1000
MB = 1000 * KB
# 60 KB and 100 KB sit either side of 64 KiB (the reads servers used to stop at); "1 MB" is one
# byte over 1 MiB, where a buffered body moves from memory to a temporary file.
SIZES = [1 * KB, 60 * KB, 100 * KB, (1 << 20) + 1]
BIG = 20 * MB
CHUNK_SIZES = (1, 4093, 7, 65_537, 100, 16_411, 1000, 150_001)  # sizes of the chunks sent
WRITE_SIZES = (3, 5000, 1, 70_001, 12, 33_333, 999, 262_147)  # sizes of each sendall()
PAUSE = 0.003  # seconds after each of the first PAUSED writes, then after every 8th
PAUSED = 24
CONTINUE_WAIT = 1.0  # curl sends the body anyway after 1 s without an answer
Connect = Callable[[str, int], socket.socket]  # opens the client's connection (TCP or TLS)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    got_continue: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Case:
    size: int
    chunked: bool
    expect: bool
    reader: str

    @property
    def body(self) -> bytes:
        return body_of(self.size)

    @property
    def ident(self) -> str:
        if self.size >= MB:
            size = f"{self.size // MB}MB"
        else:  # sizes at a protocol's boundary (8186) in bytes
            size = f"{self.size // KB}KB" if self.size % KB == 0 else f"{self.size}B"
        framing = "chunked" if self.chunked else "length"
        return "-".join([size, framing, *(["expect"] if self.expect else []), self.reader])

    def target(self, prefix: str = "") -> str:
        return f"{prefix}/?mode={self.reader}"


_bodies: dict[int, bytes] = {}


def body_of(size: int) -> bytes:
    if size not in _bodies:
        _bodies[size] = random_body(size)
    return _bodies[size]


def cases(
    *,
    chunked: bool = True,
    expect: bool = True,
    big_chunked: bool = False,
    one_read: bool = True,
    sizes: Sequence[int] = SIZES,
    expect_once: bool = False,
) -> list[Any]:
    """Every size x framing x Expect x reader up to 1 MB, and 20 MB once: one framing
    (``big_chunked``), no Expect, one reader (one read(CONTENT_LENGTH) if ``one_read``).
    ``sizes``: the sizes up to 1 MB (a gateway's own boundaries instead of :data:`SIZES`).
    ``expect_once``: one Expect case (the largest size, chunked, read_all) instead of the whole
    dimension, for a front end that answers ``100-continue`` itself before the backend sees a
    byte (httpd's mod_proxy_ajp and mod_cgi): what reaches the backend is the same either way.

    ``chunked``/``expect`` False: the gateway has no such thing (a CGI client has no framing).
    ``one_read=False``: no chunked body is read with one read(CONTENT_LENGTH) (a server that
    streams a chunked body cannot know its length: RFC 9112 §6.3).
    """
    params = []
    for size in sizes:
        for is_chunked in (False, True) if chunked else (False,):
            for is_expect in (False, True) if expect and not expect_once else (False,):
                for reader in ("read_length", "read_all"):
                    if is_chunked and reader == "read_length" and not one_read:
                        continue
                    params.append(_param(Case(size, is_chunked, is_expect, reader)))
    if expect and expect_once:
        params.append(_param(Case(sizes[-1], chunked, True, "read_all")))
    big_reader = "read_length" if one_read or not big_chunked else "read_all"
    params.append(_param(Case(BIG, big_chunked, False, big_reader)))
    return params


def matrix(cases_of: dict[str, list[Any]]) -> list[Any]:
    """(name, case) params for ``@pytest.mark.parametrize(("server", "case"), ...)``: the
    :func:`cases` of each server or gateway by name, with ids "name-case"."""
    return [
        pytest.param(name, param.values[0], id=f"{name}-{param.id}")
        for name, params in cases_of.items()
        for param in params
    ]


def _param(case: Case) -> Any:
    return pytest.param(case, id=case.ident)


def send(
    host: str, port: int, case: Case, prefix: str = "", connect: Connect | None = None
) -> Answer:
    """Upload ``case``'s body as it says, to the contract app at ``prefix``."""
    target = case.target(prefix)
    return post(
        host, port, target, case.body, chunked=case.chunked, expect=case.expect, connect=connect
    )


def check_answer(answer: Answer, case: Case) -> None:
    """200, and the app read what was sent the way the case's reader reads."""
    assert answer.status == 200, answer.body[:300]
    check(answer.json(), case.body, case.reader)


def post_contract(
    host: str, port: int, mode: str, prefix: str = "", connect: Connect | None = None
) -> Answer:
    """The contract's body (Content-Length, sent in uneven pieces) read with ``mode``."""
    return post(host, port, f"{prefix}/?mode={mode}", lines_body(), connect=connect)


def check_contract(answer: Answer, mode: str) -> None:
    """200, and ``mode`` read the contract's body as it reads a file."""
    assert answer.status == 200, answer.body[:300]
    check(answer.json(), lines_body(), mode)


def post(
    host: str,
    port: int,
    target: str,
    body: bytes,
    *,
    chunked: bool = False,
    expect: bool = False,
    headers: dict[str, str] | None = None,
    connect: Connect | None = None,
) -> Answer:
    """POST ``body`` to ``target`` on one new connection (``connect(host, port)``, TCP by
    default; a TLS client socket for HTTPS); the final answer."""
    head = [f"POST {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {"Content-Type": "text/plain"}).items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
    if expect:
        head.append("Expect: 100-continue")
    with (connect or _tcp)(host, port) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        rfile = sock.makefile("rb")
        got_continue = False
        if expect and select.select([sock], [], [], CONTINUE_WAIT)[0]:
            status, fields = _read_head(rfile)
            if status != 100:  # a final answer before the body: it is never sent (RFC 9110 §10.1.1)
                return Answer(status, fields, _read_body(rfile, fields))
            got_continue = True
        _write(sock, _chunked(body) if chunked else body)
        status, fields = _read_head(rfile)
        while status == 100:  # a 100 that came after the 1 s wait
            got_continue = True
            status, fields = _read_head(rfile)
        return Answer(status, fields, _read_body(rfile, fields), got_continue)


def _tcp(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _chunked(body: bytes) -> bytes:
    """RFC 9112 §7.1: chunks of uneven sizes, then the last chunk and no trailers."""
    out, at = [], 0
    for size in cycle(CHUNK_SIZES):
        if at >= len(body):
            break
        piece = body[at : at + size]
        out += [b"%x\r\n" % len(piece), piece, b"\r\n"]
        at += size
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def _write(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    at = 0
    for count, size in enumerate(cycle(WRITE_SIZES)):
        if at >= len(view):
            return
        sock.sendall(view[at : at + size])
        at += size
        if count < PAUSED or count % 8 == 0:
            time.sleep(PAUSE)  # the server reads what came so far: the next piece is a new read


def _read_head(rfile: Any) -> tuple[int, dict[str, str]]:
    status_line = rfile.readline(65536)
    if not status_line:
        raise ConnectionError("closed without an answer")
    status = int(status_line.split()[1])
    fields: dict[str, str] = {}
    while (line := rfile.readline(65536)) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip()
    return status, fields


def _read_body(rfile: Any, fields: dict[str, str]) -> bytes:
    if "chunked" in fields.get("transfer-encoding", ""):
        return b"".join(_chunks(rfile))
    if "content-length" in fields:
        return bytes(rfile.read(int(fields["content-length"])))
    return bytes(rfile.read())  # Connection: close ends it


def _chunks(rfile: Any) -> Iterator[bytes]:
    while size := int(rfile.readline(65536).split(b";")[0], 16):
        yield rfile.read(size)
        rfile.readline(65536)
    while rfile.readline(65536) not in (b"\r\n", b"\n", b""):
        pass  # trailers
