"""A small FastCGI client for tests: build request records, read and check the answer."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from wsgikit._fcgi import (
    FCGI_BEGIN_REQUEST,
    FCGI_END_REQUEST,
    FCGI_PARAMS,
    FCGI_RESPONDER,
    FCGI_STDERR,
    FCGI_STDIN,
    FCGI_STDOUT,
    encode_params,
    encode_record,
)

_HEADER = struct.Struct("!BBHHBx")


def begin(rid: int, keep: bool = True, role: int = FCGI_RESPONDER) -> bytes:
    return encode_record(FCGI_BEGIN_REQUEST, rid, struct.pack("!HB5x", role, int(keep)))


def params(rid: int, **extra: str) -> bytes:
    values = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "example.org",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
    }
    values.update(extra)
    pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in values.items() if v != "-"]
    return encode_record(FCGI_PARAMS, rid, encode_params(pairs)) + encode_record(FCGI_PARAMS, rid)


def stdin(rid: int, body: bytes = b"") -> bytes:
    pieces = [
        encode_record(FCGI_STDIN, rid, body[i : i + 65535]) for i in range(0, len(body), 65535)
    ]
    return b"".join(pieces) + encode_record(FCGI_STDIN, rid)


def request(rid: int = 1, body: bytes = b"", keep: bool = True, **extra: Any) -> bytes:
    if body:
        extra.setdefault("REQUEST_METHOD", "POST")
        extra.setdefault("CONTENT_LENGTH", str(len(body)))
    return begin(rid, keep) + params(rid, **extra) + stdin(rid, body)


@dataclass
class Record:
    type: int
    rid: int
    content: bytes
    padding: int


@dataclass
class Response:
    stdout: bytes = b""
    stderr: bytes = b""
    end: bytes | None = None
    records: list[Record] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.stdout.split(b"\r\n", 1)[0].decode()

    @property
    def body(self) -> bytes:
        return self.stdout.partition(b"\r\n\r\n")[2]


class Client:
    """Records in and out of one connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def record(self) -> Record | None:
        """The next record, or None at EOF."""
        while True:
            if len(self.buf) >= 8:
                _, rtype, rid, clen, plen = _HEADER.unpack_from(self.buf)
                end = 8 + clen + plen
                if len(self.buf) >= end:
                    rec = Record(rtype, rid, self.buf[8 : 8 + clen], plen)
                    self.buf = self.buf[end:]
                    return rec
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                assert not self.buf, f"connection closed inside a record: {self.buf[:16]!r}"
                return None
            self.buf += data

    def response(self, rid: int = 1) -> Response:
        """Records of ``rid`` up to its END_REQUEST (AssertionError if the connection closes)."""
        resp = Response()
        while True:
            rec = self.record()
            assert rec is not None, f"connection closed before END_REQUEST ({resp})"
            resp.records.append(rec)
            if rec.rid != rid:
                continue
            if rec.type == FCGI_STDOUT:
                resp.stdout += rec.content
            elif rec.type == FCGI_STDERR:
                resp.stderr += rec.content
            elif rec.type == FCGI_END_REQUEST:
                resp.end = rec.content
                return resp

    def closed(self) -> bool:
        """The server closed the connection (nothing more but EOF)."""
        return self.record() is None
