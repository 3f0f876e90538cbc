"""A slow, obviously correct FastCGI reference decoder and stream builders, for the codec tests."""

from __future__ import annotations

import struct

from wsgikit._fcgi import (
    FCGI_BEGIN_REQUEST,
    FCGI_KEEP_CONN,
    FCGI_PARAMS,
    FCGI_RESPONDER,
    FCGI_STDIN,
    Event,
    FastCGIProtocol,
    encode_end_of_stream,
    encode_params,
    encode_record,
    encode_stream,
)


def reference_records(data: bytes) -> list[tuple[int, int, bytes]]:
    """Decode records one field at a time, asserting the framing rules our encoder promises."""
    records = []
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= 8, "truncated header"
        version = data[pos]
        rtype = data[pos + 1]
        rid = data[pos + 2] * 256 + data[pos + 3]
        clen = data[pos + 4] * 256 + data[pos + 5]
        plen = data[pos + 6]
        assert version == 1
        assert data[pos + 7] == 0, "reserved byte"
        assert (clen + plen) % 8 == 0, "record not padded to a multiple of 8"
        assert plen < 8, "more padding than needed"
        content = data[pos + 8 : pos + 8 + clen]
        assert len(content) == clen, "truncated content"
        assert data[pos + 8 + clen : pos + 8 + clen + plen] == bytes(plen), "padding not zero"
        records.append((rtype, rid, content))
        pos += 8 + clen + plen
    return records


def begin(rid: int, role: int = FCGI_RESPONDER, flags: int = FCGI_KEEP_CONN) -> bytes:
    return encode_record(FCGI_BEGIN_REQUEST, rid, struct.pack("!HB5x", role, flags))


def params(rid: int, pairs: list[tuple[bytes, bytes]]) -> bytes:
    records = b"".join(encode_stream(FCGI_PARAMS, rid, encode_params(pairs)))
    return records + encode_end_of_stream(FCGI_PARAMS, rid)


def stdin(rid: int, body: bytes) -> bytes:
    return b"".join(encode_stream(FCGI_STDIN, rid, body)) + encode_end_of_stream(FCGI_STDIN, rid)


def full_request(rid: int = 1, body: bytes = b"hello", flags: int = FCGI_KEEP_CONN) -> bytes:
    return begin(rid, flags=flags) + params(rid, PARAMS) + stdin(rid, body)


def bytewise(conn: FastCGIProtocol, data: bytes) -> list[Event]:
    events: list[Event] = []
    for i in range(len(data)):
        events += conn.feed(data[i : i + 1])
    return events


def started(*rids: int, multiplex: bool = True, max_requests: int = 64) -> FastCGIProtocol:
    """A connection with each of ``rids`` begun and its params complete (events discarded)."""
    conn = FastCGIProtocol(multiplex=multiplex, max_requests=max_requests)
    for rid in rids:
        conn.feed(begin(rid) + params(rid, PARAMS))
    return conn


PARAMS = [(b"REQUEST_METHOD", b"POST"), (b"SCRIPT_NAME", b""), (b"HTTP_X_LONG", b"v" * 300)]


def join(chunks: list[bytes | memoryview]) -> bytes:
    return b"".join(chunks)
