"""The FastCGI record layer of wsgikit._fcgi: record and stream encoding (padding, splitting
at 65535, no copies of big data) and name-value pairs (1- and 4-byte lengths, hostile lengths)."""

from __future__ import annotations

import pytest

from tests.fcgi_codec_helpers import (
    join,
    reference_records,
)
from wsgikit._fcgi import (
    FCGI_END_REQUEST,
    FCGI_GET_VALUES_RESULT,
    FCGI_MAX_REQS,
    FCGI_OVERLOADED,
    FCGI_STDIN,
    FCGI_STDOUT,
    FCGI_UNKNOWN_TYPE,
    FastCGIError,
    decode_params,
    encode_end_of_stream,
    encode_end_request,
    encode_get_values_result,
    encode_params,
    encode_record,
    encode_stream,
    encode_unknown_type,
)

# -- record encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 1000, 65535])
def test_encode_record_pads_to_multiple_of_8(size: int) -> None:
    content = bytes(range(256)) * (size // 256) + bytes(size % 256)
    record = encode_record(FCGI_STDOUT, 513, content)
    assert reference_records(record) == [(FCGI_STDOUT, 513, content)]


def test_encode_record_header_layout() -> None:
    assert encode_record(
        FCGI_STDOUT, 0x0102, b"abc"
    ) == b"\x01\x06\x01\x02\x00\x03\x05\x00abc" + bytes(5)


@pytest.mark.parametrize(
    ("rtype", "rid", "content"),
    [
        pytest.param(FCGI_STDOUT, 1, bytes(65536), id="content-too-long"),
        pytest.param(256, 1, b"", id="type-too-big"),
        pytest.param(-1, 1, b"", id="type-negative"),
        pytest.param(FCGI_STDOUT, 65536, b"", id="id-too-big"),
        pytest.param(FCGI_STDOUT, -1, b"", id="id-negative"),
    ],
)
def test_encode_record_rejects_bad_arguments(rtype: int, rid: int, content: bytes) -> None:
    with pytest.raises(ValueError, match="FastCGI"):
        encode_record(rtype, rid, content)


@pytest.mark.parametrize("size", [1, 8192, 8193, 65535, 65536, 131070, 200_001])
def test_encode_stream_splits_at_65535_with_padding(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    records = reference_records(join(encode_stream(FCGI_STDOUT, 7, data)))
    assert [len(c) for _, _, c in records] == [min(65535, size - i) for i in range(0, size, 65535)]
    assert {(t, r) for t, r, _ in records} == {(FCGI_STDOUT, 7)}
    assert b"".join(c for _, _, c in records) == data


def test_encode_stream_big_data_is_not_copied() -> None:
    data = bytes(100_000)
    views = [p for p in encode_stream(FCGI_STDOUT, 1, data) if isinstance(p, memoryview)]
    assert [len(v) for v in views] == [65535, 100_000 - 65535]
    assert all(v.obj is data for v in views)


def test_encode_stream_small_data_is_one_piece() -> None:
    assert encode_stream(FCGI_STDOUT, 1, b"abc") == [encode_record(FCGI_STDOUT, 1, b"abc")]


def test_encode_stream_of_nothing_is_no_record() -> None:
    assert encode_stream(FCGI_STDOUT, 1, b"") == []


def test_encode_stream_accepts_bytearray_and_memoryview() -> None:
    expected = join(encode_stream(FCGI_STDOUT, 1, b"x" * 70000))
    assert join(encode_stream(FCGI_STDOUT, 1, bytearray(b"x" * 70000))) == expected
    assert join(encode_stream(FCGI_STDOUT, 1, memoryview(b"x" * 70000))) == expected


def test_encode_end_of_stream_is_empty_record() -> None:
    assert encode_end_of_stream(FCGI_STDIN, 3) == b"\x01\x05\x00\x03\x00\x00\x00\x00"


def test_encode_end_request_layout() -> None:
    record = encode_end_request(2, 0x01020304, FCGI_OVERLOADED)
    assert reference_records(record) == [(FCGI_END_REQUEST, 2, b"\x01\x02\x03\x04\x02\x00\x00\x00")]


@pytest.mark.parametrize(
    ("rid", "app_status", "protocol_status"),
    [
        pytest.param(0, 0, 0, id="null-id"),
        pytest.param(1, -1, 0, id="negative-status"),
        pytest.param(1, 1 << 32, 0, id="status-too-big"),
        pytest.param(1, 0, 256, id="protocol-status-too-big"),
    ],
)
def test_encode_end_request_rejects_bad_arguments(
    rid: int, app_status: int, protocol_status: int
) -> None:
    with pytest.raises(ValueError, match="FastCGI"):
        encode_end_request(rid, app_status, protocol_status)


def test_encode_unknown_type_layout() -> None:
    assert reference_records(encode_unknown_type(42)) == [
        (FCGI_UNKNOWN_TYPE, 0, b"\x2a" + bytes(7))
    ]


def test_encode_get_values_result_layout() -> None:
    record = encode_get_values_result({FCGI_MAX_REQS: b"10"})
    assert reference_records(record) == [(FCGI_GET_VALUES_RESULT, 0, b"\x0d\x02FCGI_MAX_REQS10")]


# -- name-value pairs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name_len", "value_len", "prefix"),
    [
        pytest.param(1, 0, b"\x01\x00", id="1-1"),
        pytest.param(127, 127, b"\x7f\x7f", id="127-127"),
        pytest.param(1, 128, b"\x01\x80\x00\x00\x80", id="1-4"),
        pytest.param(128, 1, b"\x80\x00\x00\x80\x01", id="4-1"),
        pytest.param(300, 70000, b"\x80\x00\x01\x2c\x80\x01\x11\x70", id="4-4"),
    ],
)
def test_encode_params_length_forms(name_len: int, value_len: int, prefix: bytes) -> None:
    name, value = b"n" * name_len, b"v" * value_len
    encoded = encode_params([(name, value)])
    assert encoded == prefix + name + value
    assert decode_params(encoded, max_pairs=1, max_size=1 << 20) == [(name, value)]


def test_decode_params_keeps_order_and_duplicates() -> None:
    pairs = [(b"B", b"1"), (b"A", b"2"), (b"B", b"3")]
    assert decode_params(encode_params(pairs), max_pairs=3, max_size=100) == pairs


def test_decode_params_empty_block() -> None:
    assert decode_params(b"", max_pairs=0, max_size=0) == []


@pytest.mark.parametrize(
    ("data", "match"),
    [
        pytest.param(b"\x01", "truncated before the value length", id="no-value-length"),
        pytest.param(b"\x80\x00", "inside the 4-byte name length", id="cut-4-byte-name"),
        pytest.param(b"\x01\x80\x00\x00", "inside the 4-byte value length", id="cut-4-byte-value"),
        pytest.param(b"\x01\x05Ab", "run 4 bytes past", id="value-past-end"),
        pytest.param(b"\x05\x00AB", "run 3 bytes past", id="name-past-end"),
        pytest.param(b"\xff\xff\xff\xff\x00", "name length 2147483647 exceeds", id="huge-name"),
        pytest.param(b"\x01\xff\xff\xff\xffA", "value length 2147483647 exceeds", id="huge-value"),
        pytest.param(b"\x00\x01x", "empty name", id="empty-name"),
        pytest.param(b"\x01\x00A\x01\x00B\x01\x00C", "more than 2 name-value pairs", id="too-many"),
        pytest.param(b"\x01\x7fA" + b"v" * 127, "block of 130 bytes exceeds", id="too-big"),
    ],
)
def test_decode_params_rejects_malformed(data: bytes, match: str) -> None:
    with pytest.raises(FastCGIError, match=match):
        decode_params(data, max_pairs=2, max_size=100)


def test_encode_params_rejects_length_over_31_bits() -> None:
    class Huge(bytes):
        def __len__(self) -> int:
            return 1 << 31

    with pytest.raises(ValueError, match="2\\*\\*31"):
        encode_params([(b"a", Huge())])
