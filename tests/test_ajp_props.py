"""Property tests for the AJP13 codec: any bytes give events or AJPError, never anything else.

Also: a request encoded then decoded gives back what went in, and how the bytes are split never
changes the outcome.
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from wsgikit._ajp import (
    ATTRIBUTE_CODES,
    END,
    METHODS,
    AJPError,
    AJPEvent,
    AJPProtocol,
    ForwardRequest,
    encode_body,
    encode_request,
)

FAST = settings(deadline=None, max_examples=200)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def outcome(pieces: list[bytes]) -> tuple[list[AJPEvent], str | None, bytes]:
    """Events until the first AJPError (its message), and what the codec sent by itself."""
    codec = AJPProtocol()
    events: list[AJPEvent] = []
    try:
        for piece in pieces:
            events += codec.feed(piece)
    except AJPError as exc:
        return events, str(exc), codec.data_to_send()
    return events, None, codec.data_to_send()


def packet(payload: bytes) -> bytes:
    return b"\x12\x34" + struct.pack("!H", len(payload)) + payload


names = st.binary(min_size=1, max_size=12).filter(lambda b: b"\0" not in b)
values = st.binary(max_size=40)
requests = st.builds(
    lambda method, uri, headers, attrs: encode_request(
        method, b"/" + uri, headers, attributes=attrs
    ),
    st.sampled_from([*METHODS.values(), "PATCH"]),
    st.binary(max_size=30),
    st.lists(st.tuples(names, values), max_size=5),
    st.lists(st.tuples(st.sampled_from(sorted(set(ATTRIBUTE_CODES) - {"ssl_key_size",
                                                                         "stored_method"})),
                       values), max_size=3),
)  # fmt: skip
# Streams a web server (or an attacker) might send: requests, bodies, CPings, and junk packets.
pieces = st.one_of(
    requests,
    st.binary(max_size=9000).map(lambda b: encode_body(b)[0]),
    st.just(packet(b"\x0a")),
    st.binary(max_size=60).map(packet),
    st.binary(max_size=20),
)


@FAST
@given(st.lists(pieces, max_size=6), st.lists(st.integers(0, 20000), max_size=8))
def test_any_stream_gives_events_or_ajp_error(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    events, error, _ = outcome([data])
    split_events, split_error, _ = outcome(split(data, cuts))
    assert split_error == error  # where the reads fall changes nothing
    if error is None:
        assert split_events == events


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_give_events_or_ajp_error(data: bytes) -> None:
    outcome([data])


@FAST
@given(st.binary(max_size=300))
def test_any_payload_gives_a_request_or_ajp_error(payload: bytes) -> None:
    events, _, _ = outcome([packet(b"\x02" + payload)])
    assert all(isinstance(e, (ForwardRequest, bytes)) or e is END for e in events)


@FAST
@given(
    st.sampled_from([*METHODS.values(), "PATCH", "PURGE"]),
    st.binary(max_size=50),
    st.lists(st.tuples(names, values), max_size=6),
    st.binary(max_size=20000),
)
def test_round_trip(
    method: str, uri: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    headers = [
        (n, v) for n, v in headers if n.lower() not in (b"content-length", b"transfer-encoding")
    ]
    headers.append((b"Content-Length", str(len(body)).encode()))
    codec = AJPProtocol()
    data = encode_request(method, b"/" + uri, headers) + (encode_body(body)[0] if body else b"")
    events = codec.feed(data)
    for more in encode_body(body)[1:] if body else []:
        assert codec.data_to_send()  # asked for the next chunk
        events += codec.feed(more)
    request = events[0]
    assert isinstance(request, ForwardRequest)
    assert (request.method, request.uri) == (method, b"/" + uri)
    assert [v for _, v in request.headers] == [v for _, v in headers]
    assert b"".join(e for e in events if type(e) is bytes) == body
    assert events[-1] is END
