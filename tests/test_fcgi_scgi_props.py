"""Property tests for the FastCGI and SCGI codecs: any bytes give events or the protocol error.

Also: encoding then decoding gives back what went in, and how the bytes are split never changes
the outcome.
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from wsgikit._fcgi import (
    FCGI_ABORT_REQUEST,
    FCGI_BEGIN_REQUEST,
    FCGI_GET_VALUES,
    FCGI_KEEP_CONN,
    FCGI_PARAMS,
    FCGI_RESPONDER,
    FCGI_STDIN,
    Event,
    FastCGIError,
    FastCGIProtocol,
    Request,
    Stdin,
    StdinEnd,
    decode_params,
    encode_end_of_stream,
    encode_params,
    encode_record,
    encode_stream,
)
from wsgikit._scgi import END, SCGIError, SCGIEvent, SCGIParser, SCGIRequest, encode_request

FAST = settings(deadline=None, max_examples=150)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


# -- FastCGI ----------------------------------------------------------------------------------

# Records a web server (or an attacker) might send: mostly well-formed application records for
# ids 1-3 (so requests really start, stream and end), plus any type, id, body and padding.
ids = st.sampled_from([1, 2, 3])
pairs_blocks = st.lists(
    st.tuples(st.binary(min_size=1, max_size=4), st.binary(max_size=130)), max_size=3
).map(encode_params)


def record(rtype: int, rid: int, content: bytes, pad: int = 0) -> bytes:
    return struct.pack("!BBHHBx", 1, rtype, rid, len(content), pad) + content + bytes(pad)


begin_bodies = st.builds(
    struct.pack,
    st.just("!HB5x"),
    st.sampled_from([FCGI_RESPONDER, FCGI_RESPONDER, 2, 77]),
    st.sampled_from([0, FCGI_KEEP_CONN]),
)
records = st.one_of(
    st.builds(record, st.just(FCGI_BEGIN_REQUEST), ids, begin_bodies),
    st.builds(record, st.just(FCGI_PARAMS), ids, st.one_of(st.just(b""), pairs_blocks)),
    st.builds(record, st.just(FCGI_STDIN), ids, st.binary(max_size=10), st.integers(0, 9)),
    st.builds(record, st.just(FCGI_ABORT_REQUEST), ids, st.just(b"")),
    st.builds(record, st.just(FCGI_GET_VALUES), st.just(0), pairs_blocks),
    st.builds(
        record,
        st.sampled_from([*range(13), 255]),
        st.sampled_from([0, 1, 2, 3]),
        st.one_of(st.binary(max_size=24), begin_bodies, pairs_blocks),
        st.integers(0, 9),
    ),
)


@st.composite
def sessions(draw: st.DrawFn) -> list[bytes]:
    """Up to three plausible requests interleaved, then a few stray records inserted anywhere."""
    streams = []
    for rid in draw(st.lists(ids, unique=True, min_size=1, max_size=3)):
        block = draw(pairs_blocks)
        cuts = sorted(draw(st.lists(st.integers(1, max(1, len(block))), max_size=3)))
        pieces = [block[a:b] for a, b in zip([0, *cuts], [*cuts, len(block)], strict=True)]
        stream = [record(FCGI_BEGIN_REQUEST, rid, draw(begin_bodies))]
        stream += [record(FCGI_PARAMS, rid, p) for p in pieces if p] + [
            record(FCGI_PARAMS, rid, b"")
        ]
        bodies = draw(st.lists(st.binary(min_size=1, max_size=10), max_size=3))
        stream += [record(FCGI_STDIN, rid, b) for b in bodies]
        if draw(st.booleans()):
            stream.append(record(FCGI_STDIN, rid, b""))
        if draw(st.integers(0, 4)) == 0:
            where = draw(st.integers(1, len(stream)))
            stream.insert(where, record(FCGI_ABORT_REQUEST, rid, b""))
        streams.append(stream)
    merged: list[bytes] = []
    while any(streams):
        stream = draw(st.sampled_from([s for s in streams if s]))
        merged.append(stream.pop(0))
    for _ in range(draw(st.integers(0, 2))):
        merged.insert(draw(st.integers(0, len(merged))), draw(records))
    return merged


def run_fcgi(
    chunks: list[bytes], *, reuse_ids: bool = True
) -> tuple[list[Event], bytes, str | None]:
    """Feed ``chunks``; return events, outbox and the error message (None if no error).

    With ``reuse_ids`` each finished request is freed as soon as its StdinEnd is seen, which
    exercises id reuse but makes the outcome depend on where the chunks split (records for a freed
    id are ignored, FastCGI spec §3.3), so split-invariance checks turn it off.
    """
    conn = FastCGIProtocol(max_requests=2, max_params=4, max_params_size=400)
    events: list[Event] = []
    try:
        for chunk in chunks:
            new = conn.feed(chunk)
            for event in new:
                assert not isinstance(event, Stdin) or (type(event.data) is bytes and event.data)
                if reuse_ids and isinstance(event, StdinEnd):
                    conn.request_done(event.request_id)  # exercise id reuse
            events += new
        conn.feed_eof()
    except FastCGIError as err:
        return events, conn.data_to_send(), str(err)
    return events, conn.data_to_send(), None


@FAST
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_fcgi_any_bytes_give_events_or_protocol_error(data: bytes, cuts: list[int]) -> None:
    run_fcgi(split(data, cuts))


@FAST
@given(
    st.one_of(sessions(), st.lists(records, max_size=25)),
    st.lists(st.integers(0, 5000), max_size=8),
)
def test_fcgi_record_soup_is_split_invariant(soup: list[bytes], cuts: list[int]) -> None:
    data = b"".join(soup)
    whole = run_fcgi([data], reuse_ids=False)
    chunked = run_fcgi(split(data, cuts), reuse_ids=False)
    if whole[2] is None:
        assert chunked == whole
    else:  # on error a chunked feed keeps the events of earlier chunks; the error is the same
        assert chunked[2] == whole[2]


@FAST
@given(
    st.lists(st.tuples(st.binary(min_size=1, max_size=300), st.binary(max_size=300)), max_size=8)
)
def test_fcgi_params_round_trip(pairs: list[tuple[bytes, bytes]]) -> None:
    assert decode_params(encode_params(pairs), max_pairs=8, max_size=1 << 16) == pairs


@FAST
@given(st.integers(0, 255), st.integers(0, 65535), st.binary(max_size=300))
def test_fcgi_record_round_trip(rtype: int, rid: int, content: bytes) -> None:
    record = encode_record(rtype, rid, content)
    version, got_type, got_id, size, pad = struct.unpack_from("!BBHHBx", record)
    assert (version, got_type, got_id, record[8 : 8 + size]) == (1, rtype, rid, content)
    assert len(record) == 8 + size + pad
    assert len(record) % 8 == 0


@settings(deadline=None, max_examples=40)
@given(
    st.integers(1, 65535),
    st.lists(st.tuples(st.binary(min_size=1, max_size=200), st.binary(max_size=200)), max_size=5),
    st.integers(0, 140_000),
    st.binary(max_size=40),
)
def test_fcgi_stream_round_trip(
    rid: int, pairs: list[tuple[bytes, bytes]], size: int, tail: bytes
) -> None:
    body = bytes(i & 0xFF for i in range(size)) + tail
    data = (
        encode_record(FCGI_BEGIN_REQUEST, rid, struct.pack("!HB5x", FCGI_RESPONDER, 0))
        + b"".join(encode_stream(FCGI_PARAMS, rid, encode_params(pairs)))
        + encode_end_of_stream(FCGI_PARAMS, rid)
        + b"".join(encode_stream(FCGI_STDIN, rid, body))
        + encode_end_of_stream(FCGI_STDIN, rid)
    )
    events = FastCGIProtocol().feed(data)
    assert events[0] == Request(rid, False, pairs)
    assert events[-1] == StdinEnd(rid)
    assert b"".join(e.data for e in events if isinstance(e, Stdin)) == body


# -- SCGI -------------------------------------------------------------------------------------


def run_scgi(chunks: list[bytes]) -> tuple[list[SCGIEvent], str | None]:
    parser = SCGIParser(max_header_size=300, max_body_size=50)
    events: list[SCGIEvent] = []
    try:
        for chunk in chunks:
            events += parser.feed(chunk)
        parser.feed_eof()
    except SCGIError as err:
        return events, str(err)
    return events, None


def joined(events: list[SCGIEvent]) -> list[SCGIEvent]:
    body = b"".join(e for e in events if isinstance(e, bytes))
    rest = [e for e in events if not isinstance(e, bytes)]
    return rest[:1] + ([body] if body else []) + rest[1:]


names = st.binary(min_size=1, max_size=12).filter(lambda b: b"\0" not in b)
values = st.binary(max_size=12).filter(lambda b: b"\0" not in b)
netstrings = st.builds(
    lambda fields, body: b"%d:%s,%s" % (len(b"".join(fields)), b"".join(fields), body),
    st.lists(
        st.one_of(
            st.sampled_from([b"CONTENT_LENGTH\0", b"SCGI\0", b"1\0", b"0\0", b"3\0", b"\0"]),
            values.map(lambda v: v + b"\0"),
        ),
        max_size=8,
    ),
    st.binary(max_size=8),
)


@FAST
@given(st.one_of(st.binary(max_size=300), netstrings), st.lists(st.integers(0, 300), max_size=6))
def test_scgi_any_bytes_give_events_or_protocol_error(data: bytes, cuts: list[int]) -> None:
    events, error = run_scgi(split(data, cuts))
    if error is None:
        assert isinstance(events[0], SCGIRequest)
        assert events[-1] is END


@FAST
@given(
    st.lists(st.tuples(names, values), max_size=6, unique_by=lambda p: p[0]).filter(
        lambda hs: not {n for n, _ in hs} & {b"CONTENT_LENGTH", b"SCGI"}
    ),
    st.binary(max_size=50),
    st.lists(st.integers(0, 400), max_size=6),
)
def test_scgi_round_trip_split_invariant(
    headers: list[tuple[bytes, bytes]], body: bytes, cuts: list[int]
) -> None:
    data = encode_request(headers, body)
    fields = [(b"CONTENT_LENGTH", str(len(body)).encode()), (b"SCGI", b"1"), *headers]
    expected: list[SCGIEvent] = [SCGIRequest(fields, len(body)), *([body] if body else []), END]
    assert run_scgi([data]) == (expected, None)
    events, error = run_scgi(split(data, cuts))
    assert error is None
    assert joined(events) == expected
