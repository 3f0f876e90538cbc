"""Tests for wsgikit._fcgi's connection state machine (records are in test_fcgi_records.py)."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from tests.fcgi_codec_helpers import (
    PARAMS,
    begin,
    bytewise,
    full_request,
    join,
    params,
    reference_records,
    started,
    stdin,
)
from wsgikit._fcgi import (
    FCGI_ABORT_REQUEST,
    FCGI_AUTHORIZER,
    FCGI_BEGIN_REQUEST,
    FCGI_CANT_MPX_CONN,
    FCGI_DATA,
    FCGI_END_REQUEST,
    FCGI_FILTER,
    FCGI_GET_VALUES,
    FCGI_GET_VALUES_RESULT,
    FCGI_KEEP_CONN,
    FCGI_MAX_CONNS,
    FCGI_MAX_REQS,
    FCGI_MPXS_CONNS,
    FCGI_OVERLOADED,
    FCGI_PARAMS,
    FCGI_REQUEST_COMPLETE,
    FCGI_STDERR,
    FCGI_STDIN,
    FCGI_STDOUT,
    FCGI_UNKNOWN_ROLE,
    FCGI_UNKNOWN_TYPE,
    Abort,
    FastCGIError,
    FastCGIProtocol,
    Request,
    Stdin,
    StdinEnd,
    decode_params,
    encode_end_of_stream,
    encode_end_request,
    encode_get_values_result,
    encode_params,
    encode_record,
    encode_unknown_type,
)

# -- the connection: valid streams -------------------------------------------------------------

EXPECTED = [
    Request(1, True, PARAMS),
    Stdin(1, b"hello"),
    StdinEnd(1),
]


def test_whole_request_events() -> None:
    assert FastCGIProtocol().feed(full_request()) == EXPECTED


def test_bytewise_feed_gives_identical_events() -> None:
    assert bytewise(FastCGIProtocol(), full_request()) == EXPECTED


@pytest.mark.parametrize("size", [3, 7, 8, 9, 100])
def test_chunked_feed_gives_identical_events(size: int) -> None:
    data = full_request() + full_request(2, b"x" * 70000)
    conn = FastCGIProtocol()
    events = []
    for i in range(0, len(data), size):
        events += conn.feed(data[i : i + size])
    assert events == FastCGIProtocol().feed(data)


def test_feed_accepts_bytearray_and_memoryview() -> None:
    data = full_request()
    assert FastCGIProtocol().feed(bytearray(data)) == EXPECTED
    assert FastCGIProtocol().feed(memoryview(data)) == EXPECTED


def test_feed_counts_bytes_of_wide_memoryview() -> None:
    data = full_request()  # a multiple of 8 bytes long: every record is padded
    assert FastCGIProtocol().feed(memoryview(data).cast("Q")) == EXPECTED


def test_trailing_partial_record_is_kept_for_later() -> None:
    conn = FastCGIProtocol()
    assert conn.feed(full_request() + begin(2)[:5]) == EXPECTED
    assert conn.feed(begin(2)[5:] + params(2, [])) == [Request(2, True, [])]


def test_request_waits_for_empty_params_record() -> None:
    conn = FastCGIProtocol()
    assert conn.feed(begin(1) + encode_record(FCGI_PARAMS, 1, encode_params(PARAMS[:1]))) == []
    assert conn.feed(encode_end_of_stream(FCGI_PARAMS, 1)) == [Request(1, True, PARAMS[:1])]


def test_params_pair_split_across_records() -> None:
    block = encode_params(PARAMS)
    records = b"".join(
        encode_record(FCGI_PARAMS, 1, block[i : i + 5]) for i in range(0, len(block), 5)
    )
    events = FastCGIProtocol().feed(begin(1) + records + encode_end_of_stream(FCGI_PARAMS, 1))
    assert events == [Request(1, True, PARAMS)]


def test_padding_chosen_by_peer_is_skipped() -> None:
    record = struct.pack("!BBHHBx", 1, FCGI_STDIN, 1, 3, 200) + b"abc" + bytes(200)
    assert started(1).feed(record) == [Stdin(1, b"abc")]


def test_one_stdin_event_per_record() -> None:
    data = encode_record(FCGI_STDIN, 1, b"ab") + encode_record(FCGI_STDIN, 1, b"cd")
    events = started(1).feed(data + encode_end_of_stream(FCGI_STDIN, 1))
    assert events == [Stdin(1, b"ab"), Stdin(1, b"cd"), StdinEnd(1)]
    assert all(type(e.data) is bytes for e in events if isinstance(e, Stdin))


def test_keep_conn_flag_reported() -> None:
    assert FastCGIProtocol().feed(begin(1, flags=0) + params(1, [])) == [Request(1, False, [])]


def test_reserved_flag_bits_ignored() -> None:
    events = FastCGIProtocol().feed(begin(1, flags=0xFE) + params(1, []))
    assert events == [Request(1, False, [])]


def test_multiplexed_interleaved_requests() -> None:
    data = (
        begin(1)
        + begin(2)
        + params(2, [(b"B", b"2")])
        + encode_record(FCGI_PARAMS, 1, encode_params([(b"A", b"1")]))
        + encode_record(FCGI_STDIN, 2, b"two")
        + encode_end_of_stream(FCGI_PARAMS, 1)
        + encode_record(FCGI_STDIN, 1, b"one")
        + encode_end_of_stream(FCGI_STDIN, 2)
        + encode_end_of_stream(FCGI_STDIN, 1)
    )
    expected = [
        Request(2, True, [(b"B", b"2")]),
        Stdin(2, b"two"),
        Request(1, True, [(b"A", b"1")]),
        Stdin(1, b"one"),
        StdinEnd(2),
        StdinEnd(1),
    ]
    assert FastCGIProtocol().feed(data) == expected
    assert bytewise(FastCGIProtocol(), data) == expected


def test_request_id_reusable_after_request_done() -> None:
    conn = FastCGIProtocol()
    conn.feed(full_request())
    conn.request_done(1)
    assert conn.feed(full_request()) == EXPECTED


def test_active_requests_counts_begun_ids() -> None:
    conn = started(1, 2)
    conn.request_done(1)
    assert conn.active_requests == 1


@pytest.mark.parametrize(
    ("flags", "should_close"),
    [pytest.param(0, True, id="no-keep-conn"), pytest.param(FCGI_KEEP_CONN, False, id="keep-conn")],
)
def test_should_close_after_request_done(flags: int, should_close: bool) -> None:
    conn = FastCGIProtocol()
    conn.feed(full_request(flags=flags))
    conn.request_done(1)
    assert conn.should_close is should_close


def test_request_done_unknown_id_raises_value_error() -> None:
    with pytest.raises(ValueError, match="not active"):
        FastCGIProtocol().request_done(1)


# -- records for inactive ids (spec §3.3: ignored) ---------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(encode_record(FCGI_PARAMS, 5, b"\x01\x00A"), id="params"),
        pytest.param(encode_record(FCGI_STDIN, 5, b"x"), id="stdin"),
        pytest.param(encode_end_of_stream(FCGI_STDIN, 5), id="stdin-end"),
        pytest.param(encode_record(FCGI_DATA, 5, b"x"), id="data"),
        pytest.param(encode_record(FCGI_ABORT_REQUEST, 5), id="abort"),
    ],
)
def test_records_for_inactive_id_are_ignored(record: bytes) -> None:
    conn = started(1)
    assert conn.feed(record) == []
    assert conn.data_to_send() == b""


def test_body_after_request_done_is_ignored() -> None:
    conn = started(1)
    conn.request_done(1)
    assert conn.feed(stdin(1, b"late body")) == []


# -- management records and refusals answered by the codec -------------------------------------


def get_values(*names: bytes) -> bytes:
    return encode_record(FCGI_GET_VALUES, 0, encode_params([(n, b"") for n in names]))


def answer(conn: FastCGIProtocol, data: bytes) -> list[tuple[int, int, bytes]]:
    assert conn.feed(data) == []
    return reference_records(conn.data_to_send())


def test_get_values_answers_known_names_only() -> None:
    conn = FastCGIProtocol(max_requests=10)
    records = answer(conn, get_values(FCGI_MAX_REQS, b"NOT_A_VALUE", FCGI_MPXS_CONNS))
    assert records == [
        (
            FCGI_GET_VALUES_RESULT,
            0,
            encode_params([(FCGI_MAX_REQS, b"10"), (FCGI_MPXS_CONNS, b"1")]),
        )
    ]


def test_get_values_reflects_no_multiplexing() -> None:
    records = answer(FastCGIProtocol(multiplex=False), get_values(FCGI_MAX_REQS, FCGI_MPXS_CONNS))
    assert decode_params(records[0][2], max_pairs=9, max_size=99) == [
        (FCGI_MAX_REQS, b"1"),
        (FCGI_MPXS_CONNS, b"0"),
    ]


def test_get_values_max_conns_from_constructor() -> None:
    conn = FastCGIProtocol(values={FCGI_MAX_CONNS: b"50"})
    records = answer(conn, get_values(FCGI_MAX_CONNS))
    assert records == [(FCGI_GET_VALUES_RESULT, 0, encode_params([(FCGI_MAX_CONNS, b"50")]))]


def test_get_values_max_conns_omitted_when_unknown() -> None:
    assert answer(FastCGIProtocol(), get_values(FCGI_MAX_CONNS)) == [
        (FCGI_GET_VALUES_RESULT, 0, b"")
    ]


def test_get_values_duplicate_name_answered_once() -> None:
    records = answer(FastCGIProtocol(), get_values(FCGI_MPXS_CONNS, FCGI_MPXS_CONNS))
    assert records == [(FCGI_GET_VALUES_RESULT, 0, encode_params([(FCGI_MPXS_CONNS, b"1")]))]


@pytest.mark.parametrize("rtype", [0, 12, 255])
def test_unknown_management_type_answered(rtype: int) -> None:
    records = answer(FastCGIProtocol(), encode_record(rtype, 0, b"whatever"))
    assert records == [(FCGI_UNKNOWN_TYPE, 0, bytes([rtype]) + bytes(7))]


@pytest.mark.parametrize(
    "role",
    [
        pytest.param(FCGI_AUTHORIZER, id="authorizer"),
        pytest.param(FCGI_FILTER, id="filter"),
        pytest.param(0, id="zero"),
        pytest.param(999, id="unknown"),
    ],
)
def test_unsupported_role_refused_with_unknown_role(role: int) -> None:
    records = answer(FastCGIProtocol(), begin(3, role=role))
    assert records == [(FCGI_END_REQUEST, 3, bytes(4) + bytes([FCGI_UNKNOWN_ROLE]) + bytes(3))]


def test_refused_request_streams_are_ignored() -> None:
    conn = FastCGIProtocol()
    conn.feed(begin(3, role=FCGI_FILTER))
    assert conn.feed(params(3, PARAMS) + stdin(3, b"x") + encode_record(FCGI_DATA, 3, b"d")) == []
    assert conn.active_requests == 0


def test_refused_request_without_keep_conn_asks_to_close() -> None:
    conn = FastCGIProtocol()
    conn.feed(begin(3, role=FCGI_AUTHORIZER, flags=0))
    assert conn.should_close is True


def test_second_request_refused_when_not_multiplexing() -> None:
    conn = started(1, multiplex=False)
    records = answer(conn, begin(2))
    assert records == [(FCGI_END_REQUEST, 2, bytes(4) + bytes([FCGI_CANT_MPX_CONN]) + bytes(3))]
    assert conn.feed(stdin(1, b"ok")) == [Stdin(1, b"ok"), StdinEnd(1)]


def test_request_over_max_requests_refused_as_overloaded() -> None:
    conn = started(1, 2, max_requests=2)
    records = answer(conn, begin(3))
    assert records == [(FCGI_END_REQUEST, 3, bytes(4) + bytes([FCGI_OVERLOADED]) + bytes(3))]


def test_data_to_send_empties_outbox() -> None:
    conn = FastCGIProtocol()
    conn.feed(encode_record(12, 0))
    conn.data_to_send()
    assert conn.data_to_send() == b""


# -- abort ------------------------------------------------------------------------------------


def test_abort_after_request_is_an_event() -> None:
    assert started(1).feed(encode_record(FCGI_ABORT_REQUEST, 1)) == [Abort(1)]


def test_abort_keeps_id_active_until_request_done() -> None:
    conn = started(1)
    conn.feed(encode_record(FCGI_ABORT_REQUEST, 1))
    assert conn.active_requests == 1


def test_abort_before_params_complete_answered_by_codec() -> None:
    conn = FastCGIProtocol()
    assert conn.feed(begin(1) + encode_record(FCGI_ABORT_REQUEST, 1)) == []
    assert reference_records(conn.data_to_send()) == [(FCGI_END_REQUEST, 1, bytes(8))]
    assert conn.active_requests == 0


# -- hostile input ----------------------------------------------------------------------------

HOSTILE = [
    pytest.param(b"\x02" + begin(1)[1:], "unsupported FastCGI version 2", id="version"),
    pytest.param(begin(1) + begin(1), "already active", id="begin-twice"),
    pytest.param(
        encode_record(FCGI_BEGIN_REQUEST, 1, bytes(7)), "is 7 bytes, expected 8", id="begin-short"
    ),
    pytest.param(
        encode_record(FCGI_BEGIN_REQUEST, 1, bytes(9)), "is 9 bytes, expected 8", id="begin-long"
    ),
    pytest.param(begin(0), "null request id", id="begin-id-0"),
    pytest.param(encode_record(FCGI_PARAMS, 0, b""), "null request id", id="params-id-0"),
    pytest.param(encode_record(FCGI_STDIN, 0, b"x"), "null request id", id="stdin-id-0"),
    pytest.param(encode_record(FCGI_ABORT_REQUEST, 0), "null request id", id="abort-id-0"),
    pytest.param(begin(1) + stdin(1, b"x"), "before FCGI_PARAMS ended", id="stdin-before-params"),
    pytest.param(
        full_request() + encode_record(FCGI_STDIN, 1, b"x"),
        "after its empty STDIN",
        id="stdin-after-end",
    ),
    pytest.param(
        full_request() + encode_end_of_stream(FCGI_STDIN, 1),
        "after its empty STDIN",
        id="stdin-end-twice",
    ),
    pytest.param(
        full_request() + params(1, []), "after its params stream ended", id="params-twice"
    ),
    pytest.param(
        begin(1) + params(1, [(b"A", b"v" * 2000)]), "exceed 1000 bytes", id="params-too-big"
    ),
    pytest.param(
        begin(1) + params(1, [(b"A", b"")] * 4), "more than 3 name-value", id="too-many-params"
    ),
    pytest.param(
        begin(1) + encode_record(FCGI_PARAMS, 1, b"\x05\x05ab") + params(1, []),
        "past the data",
        id="params-cut",
    ),
    pytest.param(
        begin(1) + encode_record(FCGI_STDOUT, 1, b"x"), "sent by applications", id="stdout-in"
    ),
    pytest.param(encode_record(FCGI_STDERR, 1, b"x"), "sent by applications", id="stderr-in"),
    pytest.param(encode_end_request(1, 0, 0), "sent by applications", id="end-request-in"),
    pytest.param(encode_get_values_result({}), "sent by applications", id="get-values-result-in"),
    pytest.param(encode_unknown_type(12), "sent by applications", id="unknown-type-in"),
    pytest.param(encode_record(FCGI_GET_VALUES, 1), "with request id 1", id="get-values-id-1"),
    pytest.param(encode_record(12, 1), "unknown FastCGI record type 12", id="unknown-app-type"),
    pytest.param(
        full_request() + encode_record(FCGI_DATA, 1, b"d"), "FCGI_DATA for RESPONDER", id="data"
    ),
    pytest.param(
        full_request() + encode_record(FCGI_ABORT_REQUEST, 1, b"x"),
        "carries 1 bytes",
        id="abort-body",
    ),
    pytest.param(
        full_request() + encode_record(FCGI_ABORT_REQUEST, 1) * 2,
        "after FCGI_ABORT_REQUEST",
        id="abort-twice",
    ),
    pytest.param(
        begin(1) + params(1, []) + encode_record(FCGI_ABORT_REQUEST, 1) + stdin(1, b"x"),
        "after FCGI_ABORT_REQUEST",
        id="stdin-after-abort",
    ),
    pytest.param(
        encode_record(FCGI_GET_VALUES, 0, encode_params([(FCGI_MAX_REQS, b"1")])),
        "non-empty value",
        id="get-values-with-value",
    ),
]


@pytest.mark.parametrize(("data", "match"), HOSTILE)
def test_hostile_input_raises(data: bytes, match: str) -> None:
    conn = FastCGIProtocol(max_params_size=1000, max_params=3)
    with pytest.raises(FastCGIError, match=match):
        conn.feed(data)


@pytest.mark.parametrize(("data", "match"), HOSTILE)
def test_hostile_input_raises_bytewise(data: bytes, match: str) -> None:
    conn = FastCGIProtocol(max_params_size=1000, max_params=3)
    with pytest.raises(FastCGIError, match=match):
        bytewise(conn, data)


def test_error_is_sticky() -> None:
    conn = FastCGIProtocol()
    with pytest.raises(FastCGIError):
        conn.feed(b"\x09" * 8)
    with pytest.raises(FastCGIError, match="version 9"):
        conn.feed(full_request())


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b"\x01", id="in-header"),
        pytest.param(encode_record(FCGI_STDIN, 2, b"abc")[:-1], id="in-padding"),
        pytest.param(encode_record(FCGI_STDIN, 2, b"abc")[:10], id="in-content"),
    ],
)
def test_feed_eof_inside_record_raises(tail: bytes) -> None:
    conn = FastCGIProtocol()
    conn.feed(full_request() + tail)
    with pytest.raises(FastCGIError, match="connection closed inside a record"):
        conn.feed_eof()


def test_feed_eof_between_records_is_clean() -> None:
    conn = FastCGIProtocol()
    conn.feed(full_request())
    conn.feed_eof()  # raises on a cut record; here it must not
    assert conn.active_requests == 1


# -- constructor validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"max_requests": 0}, id="max-requests-0"),
        pytest.param({"max_params": -1}, id="max-params-negative"),
        pytest.param({"max_params_size": -1}, id="max-size-negative"),
        pytest.param(
            {"values": {FCGI_MPXS_CONNS: b"1"}, "multiplex": False}, id="mpxs-contradiction"
        ),
        pytest.param({"values": {"FCGI_MAX_CONNS": b"1"}}, id="str-name"),
        pytest.param({"values": {b"X": b"v" * 70000}}, id="values-too-big"),
    ],
)
def test_constructor_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FastCGIProtocol(**kwargs)  # type: ignore[arg-type]


# -- response helpers ----------------------------------------------------------------------


def test_respond_produces_stdout_records() -> None:
    data = b"Status: 200 OK\r\n\r\n" + b"z" * 140_000
    records = reference_records(join(started(1).respond(1, data)))
    assert {(t, r) for t, r, _ in records} == {(FCGI_STDOUT, 1)}
    assert b"".join(c for _, _, c in records) == data


def test_end_request_closes_stdout_then_ends() -> None:
    records = reference_records(started(4).end_request(4, app_status=3))
    assert records == [(FCGI_STDOUT, 4, b""), (FCGI_END_REQUEST, 4, b"\x00\x00\x00\x03" + bytes(4))]


def test_end_request_closes_stderr_when_used() -> None:
    conn = started(4)
    err = reference_records(join(conn.stderr(4, b"oops")))
    records = reference_records(conn.end_request(4))
    assert err == [(FCGI_STDERR, 4, b"oops")]
    assert [(t, c) for t, _, c in records] == [
        (FCGI_STDOUT, b""),
        (FCGI_STDERR, b""),
        (FCGI_END_REQUEST, bytes([0, 0, 0, 0, FCGI_REQUEST_COMPLETE, 0, 0, 0])),
    ]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.respond(0, b"x"), id="respond"),
        pytest.param(lambda c: c.stderr(0, b"x"), id="stderr"),
        pytest.param(lambda c: c.end_request(0), id="end-request"),
        pytest.param(lambda c: c.respond(65536, b"x"), id="respond-big-id"),
    ],
)
def test_response_helpers_reject_bad_ids(call: Callable[[FastCGIProtocol], object]) -> None:
    with pytest.raises(ValueError, match="request id"):
        call(FastCGIProtocol())
