"""A minimal AJP13 web-server side for tests: send a request, answer GET_BODY_CHUNK, read the reply.

with socket.create_connection(addr) as sock:
    reply = exchange(sock, encode_request("POST", b"/", [(b"Content-Length", b"3")]), b"abc")
    reply.status, reply.headers, reply.body, reply.reuse
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from wsgikit._ajp import encode_body

_U16 = struct.Struct("!H")
_CODED = {
    0xA001: "Content-Type", 0xA002: "Content-Language", 0xA003: "Content-Length",
    0xA004: "Date", 0xA005: "Last-Modified", 0xA006: "Location", 0xA007: "Set-Cookie",
    0xA008: "Set-Cookie2", 0xA009: "Servlet-Engine", 0xA00A: "Status", 0xA00B: "WWW-Authenticate",
}  # fmt: skip


@dataclass
class Reply:
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    reuse: bool | None = None  # None: the connection closed before END_RESPONSE
    chunk_sizes: list[int] = field(default_factory=list)
    asked: int = 0  # GET_BODY_CHUNK packets received

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)


def read_packet(sock: socket.socket) -> bytes | None:
    """One container packet's payload; None at EOF or reset."""
    head = _read_exact(sock, 4)
    if head is None:
        return None
    assert head[:2] == b"AB", head
    return _read_exact(sock, _U16.unpack_from(head, 2)[0])


def _read_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            more = sock.recv(size - len(data))
        except ConnectionResetError:
            return None
        if not more:
            return None
        data += more
    return data


def _string(data: bytes, pos: int) -> tuple[str, int]:
    size = _U16.unpack_from(data, pos)[0]
    assert data[pos + 2 + size] == 0
    return data[pos + 2 : pos + 2 + size].decode("latin-1"), pos + 3 + size


def parse_headers(payload: bytes, reply: Reply) -> None:
    reply.status = _U16.unpack_from(payload, 1)[0]
    reply.reason, pos = _string(payload, 3)
    count = _U16.unpack_from(payload, pos)[0]
    pos += 2
    for _ in range(count):
        code = _U16.unpack_from(payload, pos)[0]
        if code >> 8 == 0xA0:
            name, pos = _CODED[code], pos + 2
        else:
            name, pos = _string(payload, pos)
        value, pos = _string(payload, pos)
        reply.headers.append((name, value))


def exchange(
    sock: socket.socket, request: bytes, body: bytes | None = None, *, first: bool = True
) -> Reply:
    """Send ``request``; the body's first chunk unasked when ``first`` (Content-Length bodies),
    the rest on each GET_BODY_CHUNK, then the empty packet; read the reply to END_RESPONSE."""
    packets = encode_body(body) + encode_body(b"") if body is not None else []
    if first and packets:
        request += packets.pop(0)
    if request:
        sock.sendall(request)
    reply = Reply()
    body_parts = []
    while True:
        payload = read_packet(sock)
        if payload is None:
            break
        kind = payload[0]
        if kind == 6:  # GET_BODY_CHUNK
            reply.asked += 1
            sock.sendall(packets.pop(0) if packets else encode_body(b"")[0])
        elif kind == 4:
            parse_headers(payload, reply)
        elif kind == 3:
            size = _U16.unpack_from(payload, 1)[0]
            assert len(payload) == size + 4 and payload[-1] == 0, "chunk framing"
            reply.chunk_sizes.append(size)
            body_parts.append(payload[3 : 3 + size])
        elif kind == 5:
            reply.reuse = payload[1] == 1
            break
        else:
            raise AssertionError(f"unexpected packet type {kind}")
    reply.body = b"".join(body_parts)
    return reply
