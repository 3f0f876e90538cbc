"""The AJP13 codec: FORWARD_REQUEST fields, body chunks, CPing, the response packets, the limits.

Byte layouts follow the AJPv13 document and what httpd's ajp_header.c writes and reads. Every
request is also fed byte by byte (the events must not depend on how the bytes arrive).
"""

from __future__ import annotations

import struct

import pytest

from wsgikit._ajp import (
    END,
    AJPError,
    AJPEvent,
    AJPProtocol,
    ForwardRequest,
    encode_body,
    encode_request,
)

GET_CHUNK = b"AB\x00\x03\x06" + struct.pack("!H", 8186)


def feed(data: bytes, codec: AJPProtocol | None = None) -> list[AJPEvent]:
    codec = codec or AJPProtocol()
    return codec.feed(data)


def feed_bytewise(data: bytes) -> list[AJPEvent]:
    codec = AJPProtocol()
    events: list[AJPEvent] = []
    for index in range(len(data)):
        events += codec.feed(data[index : index + 1])
    return events


def request_of(data: bytes) -> ForwardRequest:
    events = feed(data)
    assert events == feed_bytewise(data)
    request = events[0]
    assert isinstance(request, ForwardRequest)
    return request


def packet(payload: bytes) -> bytes:
    return b"\x12\x34" + struct.pack("!H", len(payload)) + payload


# -- FORWARD_REQUEST ---------------------------------------------------------------------------


def test_request_line_and_connection_fields() -> None:
    request = request_of(
        encode_request(
            "POST",
            b"/a%20b",
            protocol=b"HTTP/1.0",
            remote_addr=b"192.0.2.1",
            remote_host=b"client.example",
            server_name=b"example.org",
            server_port=8443,
            is_ssl=True,
        )
    )
    assert (request.method, request.uri, request.protocol) == ("POST", b"/a%20b", b"HTTP/1.0")
    assert (request.remote_addr, request.remote_host) == (b"192.0.2.1", b"client.example")
    assert (request.server_name, request.server_port, request.is_ssl) == (
        b"example.org",
        8443,
        True,
    )


def test_coded_and_named_headers_keep_their_order() -> None:
    headers = [(b"Host", b"h"), (b"X-Custom", b"1"), (b"User-Agent", b"ua"), (b"Cookie", b"c=1")]
    request = request_of(encode_request("GET", b"/", headers))
    assert request.headers == [(b"host", b"h"), (b"X-Custom", b"1"), (b"user-agent", b"ua"),
                               (b"cookie", b"c=1")]  # fmt: skip


def test_attributes() -> None:
    attributes = [
        ("remote_user", b"alice"),
        ("auth_type", b"Basic"),
        ("query_string", b"a=1&b=2"),
        ("route", b"node1"),
        ("ssl_cipher", b"TLS_AES_128_GCM_SHA256"),
        ("ssl_key_size", b"128"),
        ("secret", b"s"),
    ]
    request = request_of(encode_request("GET", b"/", attributes=attributes))
    assert request.attributes == dict(attributes)


def test_req_attributes_are_name_value_pairs() -> None:
    pairs = [(b"AJP_REMOTE_PORT", b"51234"), (b"AJP_LOCAL_ADDR", b"127.0.0.1")]
    assert request_of(encode_request("GET", b"/", req_attributes=pairs)).req_attributes == pairs


def test_stored_method_names_a_method_without_a_code() -> None:
    assert request_of(encode_request("PATCH", b"/")).method == "PATCH"


@pytest.mark.parametrize(("method", "code"), [("OPTIONS", 1), ("HEAD", 3), ("MKACTIVITY", 27)])
def test_method_codes(method: str, code: int) -> None:
    data = encode_request(method, b"/")
    assert data[5] == code
    assert request_of(data).method == method


def test_null_string_reads_as_empty() -> None:
    data = encode_request("GET", b"/", remote_addr=b"192.0.2.9", remote_host=b"")
    null = bytearray(data.replace(b"192.0.2.9\0\0\0\0", b"192.0.2.9\0\xff\xff", 1))
    null[2:4] = struct.pack("!H", len(null) - 4)
    assert request_of(bytes(null)).remote_host == b""


# -- the body ----------------------------------------------------------------------------------


def test_no_body_ends_at_once() -> None:
    events = feed(encode_request("GET", b"/"))
    assert events[1:] == [END]


def test_content_length_body_comes_unasked_then_on_request() -> None:
    codec = AJPProtocol()
    head = encode_request("POST", b"/", [(b"Content-Length", b"10000")])
    first, second = encode_body(b"x" * 10000)
    assert codec.feed(head + first)[1:] == [b"x" * 8186]
    assert codec.data_to_send() == GET_CHUNK  # asks for the rest
    assert codec.feed(second) == [b"x" * 1814, END]
    assert codec.data_to_send() == b""  # all of Content-Length is in: nothing more to ask


def test_chunked_body_is_asked_for_and_ends_with_the_empty_packet() -> None:
    codec = AJPProtocol()
    head = encode_request("POST", b"/", [(b"Transfer-Encoding", b"chunked")])
    assert codec.feed(head)[1:] == []
    assert codec.data_to_send() == GET_CHUNK  # httpd sends nothing of a chunked body unasked
    assert codec.feed(encode_body(b"abc")[0]) == [b"abc"]
    assert codec.data_to_send() == GET_CHUNK
    assert codec.feed(encode_body(b"")[0]) == [END]


def test_body_ending_short_of_content_length_ends_early() -> None:
    codec = AJPProtocol()
    head = encode_request("POST", b"/", [(b"Content-Length", b"10")])
    assert codec.feed(head + encode_body(b"abc")[0] + encode_body(b"")[0])[1:] == [b"abc", END]


def test_body_past_content_length_is_an_error() -> None:
    head = encode_request("POST", b"/", [(b"Content-Length", b"2")])
    with pytest.raises(AJPError, match="past Content-Length"):
        feed(head + encode_body(b"abc")[0])


def test_body_chunk_length_must_match_the_packet() -> None:
    head = encode_request("POST", b"/", [(b"Content-Length", b"3")])
    with pytest.raises(AJPError, match="wrong chunk length"):
        feed(head + packet(b"\x00\x05abc"))


# -- CPing, reuse, errors -------------------------------------------------------------------------


def test_cping_is_answered_with_cpong() -> None:
    codec = AJPProtocol()
    assert codec.feed(packet(b"\x0a")) == []
    assert codec.data_to_send() == b"AB\x00\x01\x09"
    assert codec.idle


def test_next_request_after_end_response_with_reuse() -> None:
    codec = AJPProtocol()
    codec.feed(encode_request("GET", b"/one"))
    codec.end_response(reuse=True)
    events = codec.feed(encode_request("GET", b"/two"))
    assert isinstance(events[0], ForwardRequest)
    assert events[0].uri == b"/two"


def test_a_packet_while_the_response_is_pending_is_an_error() -> None:
    codec = AJPProtocol()
    codec.feed(encode_request("GET", b"/one"))
    with pytest.raises(AJPError, match="response is pending"):
        codec.feed(encode_request("GET", b"/two"))


def test_an_http_request_on_the_ajp_port_is_named() -> None:
    with pytest.raises(AJPError, match="HTTP request on the AJP port"):
        feed(b"GET / HTTP/1.1\r\n\r\n")


def test_packets_over_max_packet_size_are_refused() -> None:
    with pytest.raises(AJPError, match="over the limit of 8192"):
        feed(b"\x12\x34\x20\x00")


def test_a_larger_max_packet_size_takes_larger_packets() -> None:
    codec = AJPProtocol(max_packet_size=65536)
    data = b"y" * 60000
    head = encode_request("POST", b"/", [(b"Content-Length", b"60000")])
    assert codec.feed(head + encode_body(data, 65536)[0])[1:] == [data, END]


@pytest.mark.parametrize("size", [4096, 8191, 65537, "8192"])
def test_max_packet_size_is_checked(size: object) -> None:
    with pytest.raises(ValueError, match="max_packet_size"):
        AJPProtocol(max_packet_size=size)  # type: ignore[arg-type]


def test_shutdown_is_refused() -> None:
    with pytest.raises(AJPError, match="SHUTDOWN"):
        feed(packet(b"\x07"))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:-1] + b"\x42", "unknown AJP attribute"),  # terminator replaced
        (lambda d: d[:5] + b"\x63" + d[6:], "unknown AJP method"),
        (lambda d: d + b"\x00", "after the AJP request terminator"),
    ],
)
def test_malformed_requests(mutate: object, message: str) -> None:
    data = bytearray(mutate(encode_request("GET", b"/")))  # type: ignore[operator]
    data[2:4] = struct.pack("!H", len(data) - 4)
    with pytest.raises(AJPError, match=message):
        feed(bytes(data))


def test_truncated_request_is_an_error() -> None:
    data = encode_request("GET", b"/", [(b"Host", b"h")])
    with pytest.raises(AJPError, match="ends inside"):
        feed(packet(data[4:-3]))


def test_the_error_repeats() -> None:
    codec = AJPProtocol()
    with pytest.raises(AJPError):
        codec.feed(b"nope")
    with pytest.raises(AJPError):
        codec.feed(encode_request("GET", b"/"))


def test_differing_content_lengths_are_an_error() -> None:
    headers = [(b"Content-Length", b"1"), (b"content-length", b"2")]
    with pytest.raises(AJPError, match="differing Content-Length"):
        feed(encode_request("POST", b"/", headers))


def test_too_many_headers() -> None:
    headers = [(b"X-%d" % n, b"v") for n in range(201)]
    with pytest.raises(AJPError, match="201 headers"):
        feed(encode_request("GET", b"/", headers))


# -- the response --------------------------------------------------------------------------------


def test_send_headers_codes_the_known_names() -> None:
    out = AJPProtocol().send_headers(404, b"Not Found", [(b"Content-Type", b"t/p"), (b"X-A", b"b")])
    payload = (
        b"\x04\x01\x94"  # SEND_HEADERS, 404
        b"\x00\x09Not Found\x00\x00\x02"  # the reason, 2 headers
        b"\xa0\x01\x00\x03t/p\x00"  # Content-Type, coded
        b"\x00\x03X-A\x00\x00\x01b\x00"  # a named one
    )
    assert out == b"AB" + struct.pack("!H", len(payload)) + payload


def test_headers_that_do_not_fit_a_packet_are_refused() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        AJPProtocol().send_headers(200, b"OK", [(b"X-Big", b"v" * 9000)])


def test_body_chunks_hold_at_most_8184_bytes_and_end_with_nul() -> None:
    pieces = AJPProtocol().body(b"z" * 20000)
    data = b"".join(bytes(piece) for piece in pieces)
    sizes = []
    while data:
        length = struct.unpack("!H", data[2:4])[0]
        chunk = data[4 : 4 + length]
        assert chunk[0] == 3 and chunk[-1] == 0
        sizes.append(struct.unpack("!H", chunk[1:3])[0])
        assert len(chunk) == sizes[-1] + 4
        data = data[4 + length :]
    assert sizes == [8184, 8184, 3632]


def test_end_response_reuse_flag() -> None:
    assert AJPProtocol().end_response(reuse=True) == b"AB\x00\x02\x05\x01"
    assert AJPProtocol().end_response(reuse=False) == b"AB\x00\x02\x05\x00"


def test_part_of_a_packet_is_not_idle() -> None:
    codec = AJPProtocol()
    codec.feed(encode_request("GET", b"/")[:10])
    assert not codec.idle
