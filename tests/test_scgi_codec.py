"""Tests for wsgikit._scgi: the SCGI request parser and encoder."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from wsgikit._scgi import END, SCGIError, SCGIEvent, SCGIParser, SCGIRequest, encode_request


def raw(*strings: bytes, body: bytes = b"") -> bytes:
    """A netstring of NUL-terminated ``strings`` followed by ``body``, built by hand."""
    block = b"".join(s + b"\0" for s in strings)
    return b"%d:%s,%s" % (len(block), block, body)


def bytewise(parser: SCGIParser, data: bytes) -> list[SCGIEvent]:
    events: list[SCGIEvent] = []
    for i in range(len(data)):
        events += parser.feed(data[i : i + 1])
    return events


def normalise(events: list[SCGIEvent]) -> list[SCGIEvent]:
    """Body pieces depend on how bytes arrive; join them so differently fed streams compare."""
    out: list[SCGIEvent] = []
    for event in events:
        if isinstance(event, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += event
        else:
            out.append(event)
    return out


HEADERS = [(b"REQUEST_METHOD", b"POST"), (b"REQUEST_URI", b"/deepthought"), (b"EMPTY", b"")]
BODY = b"What is the answer to life?"
REQUEST = encode_request(HEADERS, BODY)
EXPECTED: list[SCGIEvent] = [
    SCGIRequest([(b"CONTENT_LENGTH", b"27"), (b"SCGI", b"1"), *HEADERS], 27),
    BODY,
    END,
]


# -- encoding ---------------------------------------------------------------------------------


def test_encode_request_matches_protocol_example() -> None:
    # The example request of protocol.txt §4, byte for byte.
    expected = (
        b"70:CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00"
        b"REQUEST_URI\x00/deepthought\x00,What is the answer to life?"
    )
    assert encode_request(HEADERS[:2], BODY) == expected


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([(b"CONTENT_LENGTH", b"1")], id="content-length-given"),
        pytest.param([(b"SCGI", b"1")], id="scgi-given"),
        pytest.param([(b"A", b"1"), (b"A", b"2")], id="duplicate"),
        pytest.param([(b"", b"1")], id="empty-name"),
        pytest.param([(b"A\0B", b"1")], id="nul-in-name"),
        pytest.param([(b"A", b"1\0")], id="nul-in-value"),
    ],
)
def test_encode_request_rejects_bad_headers(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(ValueError, match="SCGI header"):
        encode_request(headers)


# -- valid streams ----------------------------------------------------------------------------


def test_whole_request_events() -> None:
    assert SCGIParser().feed(REQUEST) == EXPECTED


def test_bytewise_feed_gives_same_events() -> None:
    events = bytewise(SCGIParser(), REQUEST)
    assert normalise(events) == EXPECTED


def test_bytewise_body_pieces_are_non_empty_bytes() -> None:
    events = bytewise(SCGIParser(), REQUEST)
    assert [e for e in events if isinstance(e, bytes)] == [bytes([b]) for b in BODY]


@pytest.mark.parametrize("size", [2, 3, 10, 69, 73, 74, 75])
def test_chunked_feed_gives_same_events(size: int) -> None:
    parser = SCGIParser()
    events: list[SCGIEvent] = []
    for i in range(0, len(REQUEST), size):
        events += parser.feed(REQUEST[i : i + size])
    assert normalise(events) == EXPECTED


def test_feed_accepts_bytearray_and_memoryview() -> None:
    assert SCGIParser().feed(bytearray(REQUEST)) == EXPECTED
    assert SCGIParser().feed(memoryview(REQUEST)) == EXPECTED


def test_empty_body_ends_at_once() -> None:
    request = encode_request([(b"REQUEST_METHOD", b"GET")])
    assert SCGIParser().feed(request) == [
        SCGIRequest([(b"CONTENT_LENGTH", b"0"), (b"SCGI", b"1"), (b"REQUEST_METHOD", b"GET")], 0),
        END,
    ]


def test_request_event_waits_for_comma() -> None:
    parser = SCGIParser()
    assert parser.feed(REQUEST[:69]) == []
    assert parser.feed(REQUEST[69:]) == EXPECTED


def test_headers_and_body_in_separate_feeds() -> None:
    parser = SCGIParser()
    head = len(REQUEST) - len(BODY)
    assert parser.feed(REQUEST[:head]) == EXPECTED[:1]
    assert parser.feed(REQUEST[head:]) == EXPECTED[1:]


def test_content_length_with_leading_zeros() -> None:
    events = SCGIParser().feed(raw(b"CONTENT_LENGTH", b"003", b"SCGI", b"1", body=b"abc"))
    assert events == [SCGIRequest([(b"CONTENT_LENGTH", b"003"), (b"SCGI", b"1")], 3), b"abc", END]


def test_header_block_at_max_size_accepted() -> None:
    request = raw(b"CONTENT_LENGTH", b"0", b"SCGI", b"1", b"X", b"v" * 30)
    size = int(request.split(b":")[0])
    assert SCGIParser(max_header_size=size).feed(request)[-1] is END


def test_body_at_max_body_size_accepted() -> None:
    assert SCGIParser(max_body_size=27).feed(REQUEST) == EXPECTED


def test_feeding_nothing_gives_nothing() -> None:
    parser = SCGIParser()
    assert parser.feed(b"") == []
    assert parser.feed(REQUEST) == EXPECTED


def test_feed_eof_after_end_is_clean() -> None:
    parser = SCGIParser()
    parser.feed(REQUEST)
    parser.feed_eof()  # raises unless the request is complete; here it must not
    assert parser.feed(b"") == []


# -- hostile input ----------------------------------------------------------------------------

CL0 = (b"CONTENT_LENGTH", b"0")
HOSTILE = [
    pytest.param(b":", "length is empty", id="empty-length"),
    pytest.param(b"x", "not a decimal number", id="non-digit-length"),
    pytest.param(b"1x:", "not a decimal number", id="digit-then-letter"),
    pytest.param(b"-1:", "not a decimal number", id="negative-length"),
    pytest.param(b" 5:", "not a decimal number", id="space-in-length"),
    pytest.param(b"01:", "leading zero", id="leading-zero"),
    pytest.param(b"00", "leading zero", id="double-zero"),
    pytest.param(b"12345678", "more than 7 digits", id="8-digits"),
    pytest.param(raw(*CL0, b"SCGI", b"1")[:-1] + b";", "expected ','", id="no-comma"),
    pytest.param(b"0:,", "block is empty", id="empty-block"),
    pytest.param(b"3:abc,", "must end with a NUL", id="no-trailing-nul"),
    pytest.param(raw(*CL0, b"SCGI"), "odd number", id="odd-strings"),
    pytest.param(raw(*CL0, b"", b"x", b"SCGI", b"1"), "empty name", id="empty-name"),
    pytest.param(
        raw(*CL0, b"SCGI", b"1", b"CONTENT_LENGTH", b"5", body=b"hello"),
        "CONTENT_LENGTH given twice",
        id="cl-repeated-different",
    ),
    pytest.param(
        raw(*CL0, b"SCGI", b"1", b"CONTENT_LENGTH", b"00"),
        "CONTENT_LENGTH given twice",
        id="cl-repeated-other-spelling",
    ),
    pytest.param(raw(*CL0, b"SCGI", b"1", b"SCGI", b"2"), 'must be "1"', id="scgi-repeated-2"),
    pytest.param(
        raw(b"SCGI", b"1", *CL0), "first SCGI header must be CONTENT_LENGTH", id="cl-not-first"
    ),
    pytest.param(raw(b"CONTENT_LENGTH", b"", b"SCGI", b"1"), "not a decimal", id="cl-empty"),
    pytest.param(raw(b"CONTENT_LENGTH", b"-1", b"SCGI", b"1"), "not a decimal", id="cl-negative"),
    pytest.param(raw(b"CONTENT_LENGTH", b"1a", b"SCGI", b"1"), "not a decimal", id="cl-letter"),
    pytest.param(
        raw(b"CONTENT_LENGTH", b"\xd9\xa1", b"SCGI", b"1"), "not a decimal", id="cl-unicode"
    ),
    pytest.param(raw(b"CONTENT_LENGTH", b"9" * 19, b"SCGI", b"1"), "too large", id="cl-huge"),
    pytest.param(
        raw(b"CONTENT_LENGTH", b"9" * 5000, b"SCGI", b"1"), "too large", id="cl-5000-digits"
    ),
    pytest.param(
        raw(*CL0, b"REQUEST_METHOD", b"GET"), '"SCGI" must be "1" \\(missing\\)', id="no-scgi"
    ),
    pytest.param(raw(*CL0, b"SCGI", b"2"), "must be \"1\" \\(b'2'\\)", id="scgi-2"),
    pytest.param(
        raw(b"CONTENT_LENGTH", b"101", b"SCGI", b"1"), "exceeds the limit of 100", id="body-too-big"
    ),
    pytest.param(REQUEST + b"x", "after the SCGI request body", id="data-after-body"),
    pytest.param(
        raw(*CL0, b"SCGI", b"1") + b"GET /", "after the SCGI request body", id="second-request"
    ),
]


@pytest.mark.parametrize(("data", "match"), HOSTILE)
def test_hostile_input_raises(data: bytes, match: str) -> None:
    with pytest.raises(SCGIError, match=match):
        SCGIParser(max_header_size=9_999_999, max_body_size=100).feed(data)


@pytest.mark.parametrize(("data", "match"), HOSTILE)
def test_hostile_input_raises_bytewise(data: bytes, match: str) -> None:
    with pytest.raises(SCGIError, match=match):
        bytewise(SCGIParser(max_header_size=9_999_999, max_body_size=100), data)


@pytest.mark.parametrize(
    "data",
    [pytest.param(b"65537:", id="with-colon"), pytest.param(b"9999999", id="7-digits-no-colon")],
)
def test_header_size_over_limit_raises(data: bytes) -> None:
    with pytest.raises(SCGIError, match="exceed the limit of 65536"):
        SCGIParser().feed(data)


def test_header_size_limit_checked_while_digits_arrive() -> None:
    parser = SCGIParser(max_header_size=99)
    parser.feed(b"9")
    with pytest.raises(SCGIError, match="SCGI headers of 900 bytes exceed the limit of 99"):
        parser.feed(b"00")


def test_data_in_later_feed_after_end_raises() -> None:
    parser = SCGIParser()
    parser.feed(REQUEST)
    with pytest.raises(SCGIError, match="one request per connection"):
        parser.feed(b"x")


def test_error_is_sticky() -> None:
    parser = SCGIParser()
    with pytest.raises(SCGIError):
        parser.feed(b"x")
    with pytest.raises(SCGIError, match="not a decimal"):
        parser.feed(REQUEST)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        pytest.param(b"", "before any request bytes", id="nothing"),
        pytest.param(b"70", "inside the header netstring", id="in-length"),
        pytest.param(REQUEST[:40], "inside the header netstring", id="in-headers"),
        pytest.param(REQUEST[:-5], "with 5 body bytes missing", id="in-body"),
    ],
)
def test_feed_eof_before_end_raises(data: bytes, match: str) -> None:
    parser = SCGIParser()
    parser.feed(data)
    with pytest.raises(SCGIError, match=match):
        parser.feed_eof()


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"max_header_size": 0}, id="header-0"),
        pytest.param({"max_header_size": 10_000_000}, id="header-8-digits"),
        pytest.param({"max_body_size": -1}, id="body-negative"),
    ],
)
def test_constructor_rejects_bad_limits(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        SCGIParser(**kwargs)


# -- names sent twice (nginx: scgi_param HTTP_HOST $http_host after the stock HTTP_HOST $host) --

TWICE = raw(*CL0, b"SCGI", b"1", b"HTTP_HOST", b"a", b"X", b"y", b"HTTP_HOST", b"a:8080")


@pytest.mark.parametrize(
    "feed",
    [pytest.param(SCGIParser.feed, id="whole"), pytest.param(bytewise, id="bytewise")],
)
def test_repeated_name_keeps_its_first_place_and_last_value(
    feed: Callable[[SCGIParser, bytes], list[SCGIEvent]],
) -> None:
    headers = [CL0, (b"SCGI", b"1"), (b"HTTP_HOST", b"a:8080"), (b"X", b"y")]
    assert feed(SCGIParser(), TWICE) == [SCGIRequest(headers, 0, [b"HTTP_HOST"]), END]


def test_repeated_identical_content_length_is_accepted() -> None:
    events = SCGIParser().feed(
        raw(b"CONTENT_LENGTH", b"2", b"SCGI", b"1", b"CONTENT_LENGTH", b"2", body=b"hi")
    )
    assert events == [
        SCGIRequest([(b"CONTENT_LENGTH", b"2"), (b"SCGI", b"1")], 2, [b"CONTENT_LENGTH"]),
        b"hi",
        END,
    ]


def test_repeats_are_logged_once_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    data = raw(*CL0, b"SCGI", b"1", b"A", b"1", b"B", b"1", b"A", b"2", b"B", b"2", b"A", b"3")
    with caplog.at_level(logging.DEBUG, "wsgikit.error"):
        SCGIParser().feed(data)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, "SCGI headers sent more than once, the last value wins: A, B")
    ]


def test_no_repeats_no_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, "wsgikit.error"):
        SCGIParser().feed(REQUEST)
    assert not caplog.records
