"""The strict HTTP/1.1 request parser of wsgikit._http11, fed the vector corpus in every way.

Each vector of tests/http11_vectors.py is fed whole, byte by byte, split in two at every offset
(at a sample of offsets for vectors over 300 bytes, to stay fast) and followed by more data; the
outcome must not change. Then unit tests for the limits, keep-alive, ``idle``, ``feed_eof`` and the
dead parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.http11_vectors import INVALID, VALID, VECTORS, Outcome, Req, Vector
from wsgikit._http11 import (
    END_OF_MESSAGE,
    EndOfMessage,
    Limits,
    ProtocolError,
    RequestHead,
    RequestParser,
)

NEXT = b"GET /next HTTP/1.1\r\nHost: n\r\n\r\n"
NEXT_REQ = Req(target=b"/next", host=b"n")
GARBAGE = b"\x00garbage\r\n\r\n"
GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


@dataclass
class Run:
    """What a parser made of some input: complete requests, then maybe an error and where."""

    requests: list[tuple[RequestHead, bytes]] = field(default_factory=list)
    heads: int = 0  # RequestHead events, also of a message that did not complete
    status: int | None = None
    where: str = ""  # "feed" or "eof"


def run(chunks: list[bytes], limits: Limits | None = None) -> Run:
    parser = RequestParser(limits) if limits else RequestParser()
    result = Run()
    head: RequestHead | None = None
    body: list[bytes] = []
    where = "feed"
    try:
        for chunk in [*chunks, b""]:  # feed(b"") raises an error deferred behind events
            for event in parser.feed(chunk):
                if isinstance(event, RequestHead):
                    assert head is None, "a head before the previous message ended"
                    head, body = event, []
                    result.heads += 1
                elif isinstance(event, bytes):
                    assert event, "empty body piece"
                    assert head is not None
                    body.append(event)
                else:
                    assert event is END_OF_MESSAGE
                    assert head is not None
                    result.requests.append((head, b"".join(body)))
                    head = None
        where = "eof"
        parser.feed_eof()
    except ProtocolError as exc:
        result.status, result.where = exc.status, where
    else:
        assert head is None
        assert parser.idle
    return result


def check(result: Run, expected: Outcome) -> None:
    assert result.status == expected.error
    if expected.error is not None:
        assert result.where == ("eof" if expected.at_eof else "feed")
        # nothing of a request after the bad one: at most the bad request's own head
        assert result.heads <= len(expected.requests) + 1
    assert len(result.requests) == len(expected.requests)
    for (head, body), req in zip(result.requests, expected.requests, strict=True):
        check_request(head, body, req)


def check_request(head: RequestHead, body: bytes, req: Req) -> None:
    path, _, query = req.target.partition(b"?")
    assert (head.method, head.target, head.version) == (req.method, req.target, req.version)
    assert head.path == (req.path if req.path is not None else path)
    assert head.query == (req.query if req.query is not None else query)
    assert head.authority == req.authority
    assert head.host == req.host
    assert (head.content_length, head.chunked) == (req.content_length, req.chunked)
    assert (head.keep_alive, head.expect_continue) == (req.keep_alive, req.expect_continue)
    assert body == req.body
    found = iter(head.headers)
    assert all(pair in found for pair in req.headers), head.headers  # in order


def splits(raw: bytes) -> list[int]:
    if len(raw) <= 300:
        return list(range(1, len(raw)))
    step = len(raw) // 97
    return sorted({*range(1, 40), *range(1, len(raw), step), *range(len(raw) - 40, len(raw))})


def params(vectors: list[Vector]) -> list[object]:
    return [pytest.param(raw, expected, id=name) for name, raw, expected in vectors]


# -- the corpus ---------------------------------------------------------------------------------


def test_corpus_is_big_and_ids_unique() -> None:
    names = [name for name, _, _ in VECTORS]
    assert len(names) >= 120
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(("raw", "expected"), params(VECTORS))
def test_whole(raw: bytes, expected: Outcome) -> None:
    check(run([raw]), expected)


@pytest.mark.parametrize(("raw", "expected"), params(VECTORS))
def test_byte_by_byte(raw: bytes, expected: Outcome) -> None:
    check(run([raw[i : i + 1] for i in range(len(raw))]), expected)


@pytest.mark.parametrize(("raw", "expected"), params(VECTORS))
def test_split_at_every_offset(raw: bytes, expected: Outcome) -> None:
    for cut in splits(raw):
        check(run([raw[:cut], raw[cut:]]), expected)


def then(expected: Outcome, extra: Req | None) -> Outcome:
    """The outcome when more bytes follow a valid vector: ``extra`` parsed, or a 400 for garbage."""
    if not expected.requests[-1].keep_alive:
        return expected  # RFC 9112 §9.6: nothing after "close" is parsed
    if extra is None:
        return Outcome(expected.requests, 400)
    return Outcome((*expected.requests, extra))


@pytest.mark.parametrize(("raw", "expected"), params(VALID))
def test_valid_then_next_request(raw: bytes, expected: Outcome) -> None:
    check(run([raw + NEXT]), then(expected, NEXT_REQ))
    check(run([raw, NEXT]), then(expected, NEXT_REQ))


@pytest.mark.parametrize(("raw", "expected"), params(VALID))
def test_valid_then_garbage(raw: bytes, expected: Outcome) -> None:
    check(run([raw + GARBAGE]), then(expected, None))
    check(run([raw, GARBAGE]), then(expected, None))


# Inputs that stop mid-request would be completed by more bytes: they are not in this test.
ERRORS = [v for v in INVALID if not v[2].at_eof]


@pytest.mark.parametrize(("raw", "expected"), params(ERRORS))
def test_error_then_more_data(raw: bytes, expected: Outcome) -> None:
    for extra in (NEXT, GARBAGE, raw):
        check(run([raw + extra]), expected)
        check(run([raw, extra]), expected)


# -- limits: exactly at a limit passes, one over fails -----------------------------------------


def request_line_of(length: int) -> bytes:
    return b"GET /" + b"a" * (length - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"


@pytest.mark.parametrize(
    ("line", "status"),
    [
        pytest.param(request_line_of(40), None, id="target-at-limit"),
        pytest.param(request_line_of(41), 414, id="target-over"),
        pytest.param(b"GETTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT / HTTP/1.1", 400, id="method-over"),
        pytest.param(b"GET / HTTP/1.1" + b"1" * 30, 400, id="version-over"),
    ],
)
def test_max_request_line(line: bytes, status: int | None) -> None:
    raw = line + b"\r\nHost: a\r\n\r\n"
    limits = Limits(max_request_line=40)
    assert run([raw], limits).status == status
    assert run([raw[i : i + 1] for i in range(len(raw))], limits).status == status


def headers_of(size: int) -> bytes:
    """A header section (field lines with CRLFs) of exactly ``size`` bytes."""
    return b"Host: a\r\nX: " + b"v" * (size - 14) + b"\r\n"


@pytest.mark.parametrize(("size", "status"), [(100, None), (101, 431), (400, 431)])
def test_max_header_size(size: int, status: int | None) -> None:
    raw = b"GET / HTTP/1.1\r\n" + headers_of(size) + b"\r\n"
    limits = Limits(max_header_size=100)
    assert len(headers_of(size)) == size
    assert run([raw], limits).status == status
    assert run([raw[i : i + 1] for i in range(len(raw))], limits).status == status


def test_header_size_counts_from_after_the_request_line() -> None:
    raw = b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n" + headers_of(100) + b"\r\n"
    assert run([raw], Limits(max_header_size=100)).status is None


def test_header_section_over_limit_fails_before_it_ends() -> None:
    parser = RequestParser(Limits(max_header_size=100))
    with pytest.raises(ProtocolError) as info:
        parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 200)
    assert info.value.status == 431


@pytest.mark.parametrize(("count", "status"), [(5, None), (6, 431)])
def test_max_headers(count: int, status: int | None) -> None:
    fields = b"Host: a\r\n" + b"X: 1\r\n" * (count - 1)
    assert run([b"GET / HTTP/1.1\r\n" + fields + b"\r\n"], Limits(max_headers=5)).status == status


@pytest.mark.parametrize(("length", "status"), [(10, None), (11, 413)])
def test_max_body_size_content_length(length: int, status: int | None) -> None:
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % length + b"x" * length
    assert run([raw], Limits(max_body_size=10)).status == status


def test_max_body_size_checked_before_the_body_arrives() -> None:
    parser = RequestParser(Limits(max_body_size=10))
    with pytest.raises(ProtocolError) as info:
        parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")
    assert info.value.status == 413


@pytest.mark.parametrize(("sizes", "status"), [((4, 6), None), ((4, 7), 413), ((11,), 413)])
def test_max_body_size_chunked(sizes: tuple[int, ...], status: int | None) -> None:
    chunks = b"".join(b"%x\r\n%s\r\n" % (n, b"x" * n) for n in sizes)
    raw = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    assert run([raw], Limits(max_body_size=10)).status == status


def test_max_body_size_chunked_fails_at_the_chunk_that_crosses_it() -> None:
    parser = RequestParser(Limits(max_body_size=10))
    events = parser.feed(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nxxxx\r\n"
    )
    assert events[1:] == [b"xxxx"]
    with pytest.raises(ProtocolError) as info:
        parser.feed(b"7\r\n")
    assert info.value.status == 413


# The head's own field lines (Host, Transfer-Encoding) are 37 bytes: within the 40 allowed.
CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"


@pytest.mark.parametrize(
    ("trailers", "status"),
    [
        pytest.param(b"T: " + b"v" * 35 + b"\r\n", None, id="section-at-limit"),
        pytest.param(b"T: " + b"v" * 36 + b"\r\n", 431, id="section-over"),
        pytest.param(b"A: 1\r\n" * 3, None, id="count-at-limit"),
        pytest.param(b"A: 1\r\n" * 4, 431, id="count-over"),
    ],
)
def test_trailer_limits(trailers: bytes, status: int | None) -> None:
    raw = CHUNKED_HEAD + trailers + b"\r\n"
    limits = Limits(max_header_size=40, max_headers=3)
    assert run([raw], limits).status == status
    assert run([raw[i : i + 1] for i in range(len(raw))], limits).status == status


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"max_request_line": 0}, id="zero"),
        pytest.param({"max_headers": -1}, id="negative"),
        pytest.param({"max_header_size": True}, id="bool"),
        pytest.param({"max_header_size": 1.5}, id="float"),
        pytest.param({"max_body_size": -1}, id="negative-body"),
        pytest.param({"max_body_size": "10"}, id="str-body"),
    ],
)
def test_limits_refuse_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Limits"):
        Limits(**kwargs)  # type: ignore[arg-type]


def test_parser_refuses_a_non_limits() -> None:
    with pytest.raises(TypeError):
        RequestParser({"max_headers": 1})  # type: ignore[arg-type]


# -- keep-alive (RFC 9112 §9.3) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        pytest.param(b"1.1", None, True, id="11-default"),
        pytest.param(b"1.1", b"close", False, id="11-close"),
        pytest.param(b"1.1", b"CLOSE", False, id="11-close-case"),
        pytest.param(b"1.1", b"upgrade, close", False, id="11-close-listed"),
        pytest.param(b"1.1", b"keep-alive", True, id="11-keep-alive"),
        pytest.param(b"1.1", b"closed", True, id="11-not-close"),
        pytest.param(b"1.0", None, False, id="10-default"),
        pytest.param(b"1.0", b"keep-alive", True, id="10-keep-alive"),
        pytest.param(b"1.0", b"foo,  keep-alive ", True, id="10-keep-alive-listed"),
        pytest.param(b"1.0", b"keep-alive, close", False, id="10-close-wins"),
    ],
)
def test_keep_alive(version: bytes, connection: bytes | None, keep_alive: bool) -> None:
    conn = b"Connection: %s\r\n" % connection if connection is not None else b""
    events = RequestParser().feed(b"GET / HTTP/%s\r\nHost: a\r\n%s\r\n" % (version, conn))
    assert isinstance(events[0], RequestHead)
    assert events[0].keep_alive is keep_alive


def test_bytes_after_a_close_request_are_ignored() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert parser.feed(GET) == []
    assert parser.feed(b"\x00 not even http") == []
    parser.feed_eof()


# -- idle, feed_eof, errors ---------------------------------------------------------------------


def test_idle_at_start() -> None:
    assert RequestParser().idle


@pytest.mark.parametrize(
    ("data", "idle"),
    [
        pytest.param(GET, True, id="after-request"),
        pytest.param(b"\r\n", True, id="after-empty-line"),
        pytest.param(b"\r", False, id="half-empty-line"),
        pytest.param(b"G", False, id="request-line"),
        pytest.param(b"GET / HTTP/1.1\r\n", False, id="head"),
        pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nx", False, id="body"),
        pytest.param(GET + b"GET", False, id="second-request"),
    ],
)
def test_idle(data: bytes, idle: bool) -> None:
    parser = RequestParser()
    parser.feed(data)
    assert parser.idle is idle


def test_not_idle_after_an_error() -> None:
    parser = RequestParser()
    with pytest.raises(ProtocolError):
        parser.feed(b"\n")
    assert not parser.idle


@pytest.mark.parametrize("data", [b"", GET, GET + b"\r\n", b"\r\n\r\n"])
def test_feed_eof_between_requests(data: bytes) -> None:
    parser = RequestParser()
    parser.feed(data)
    parser.feed_eof()


@pytest.mark.parametrize("data", [b"G", b"\r", GET + b"GET / HTTP/1.1\r\nHost: a\r\n\r"])
def test_feed_eof_mid_request(data: bytes) -> None:
    parser = RequestParser()
    parser.feed(data)
    with pytest.raises(ProtocolError) as info:
        parser.feed_eof()
    assert info.value.status == 400


def test_dead_parser_raises_the_same_error_forever() -> None:
    parser = RequestParser()
    with pytest.raises(ProtocolError) as first:
        parser.feed(b"GET / HTTP/2.0\r\n\r\n")
    for again in (lambda: parser.feed(GET), lambda: parser.feed(b""), parser.feed_eof):
        with pytest.raises(ProtocolError) as later:
            again()
        assert later.value is first.value
        assert later.value.status == 505


def test_error_after_events_is_raised_by_the_next_feed() -> None:
    parser = RequestParser()
    events = parser.feed(GET + b"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n")
    assert len(events) == 2
    assert events[1] is END_OF_MESSAGE
    assert not parser.idle
    with pytest.raises(ProtocolError) as info:
        parser.feed(b"")
    assert info.value.status == 400


def test_error_mid_body_keeps_the_events_before_it() -> None:
    parser = RequestParser()
    events = parser.feed(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n"
    )
    assert events[1:] == [b"ab"]
    with pytest.raises(ProtocolError):
        parser.feed_eof()


def test_protocol_error_str_and_fields() -> None:
    error = ProtocolError(431, "too many header fields")
    assert (error.status, error.detail) == (431, "too many header fields")
    assert str(error) == "431 too many header fields"


def test_errors_have_a_detail_line() -> None:
    with pytest.raises(ProtocolError) as info:
        RequestParser().feed(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"
        )
    assert "Content-Length" in info.value.detail


# -- events -------------------------------------------------------------------------------------


def test_body_pieces_are_exactly_what_arrived() -> None:
    parser = RequestParser()
    head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n"
    assert parser.feed(head + b"ab")[1:] == [b"ab"]
    assert parser.feed(b"cd") == [b"cd"]
    assert parser.feed(b"ef" + GET)[:2] == [b"ef", END_OF_MESSAGE]


def test_chunk_data_comes_out_as_it_arrives() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert parser.feed(b"6\r\nabc") == [b"abc"]
    assert parser.feed(b"def\r\n0\r\n\r\n") == [b"def", END_OF_MESSAGE]


def test_a_request_without_body_ends_at_once() -> None:
    events = RequestParser().feed(GET)
    assert isinstance(events[0], RequestHead)
    assert events[1:] == [END_OF_MESSAGE]


def test_trailers_are_dropped() -> None:
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n"
    head = RequestParser().feed(raw)[0]
    assert isinstance(head, RequestHead)
    assert head.headers == [(b"Host", b"a"), (b"Transfer-Encoding", b"chunked")]


def test_memoryview_input_gives_bytes_events() -> None:
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
    events = RequestParser().feed(memoryview(raw))  # type: ignore[arg-type]
    assert type(events[1]) is bytes


def test_end_of_message_is_a_singleton() -> None:
    assert isinstance(END_OF_MESSAGE, EndOfMessage)
    assert repr(END_OF_MESSAGE) == "END_OF_MESSAGE"


def test_request_head_repr() -> None:
    head = RequestParser().feed(b"OPTIONS * HTTP/1.0\r\n\r\n")[0]
    assert repr(head) == "<RequestHead OPTIONS b'*' HTTP/1.0>"


def test_header_names_with_underscore_are_kept() -> None:
    # They are valid tokens; the gateway drops them from the environ (HTTP_X_Y spoofing).
    head = RequestParser().feed(b"GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\nX-Y: 2\r\n\r\n")[0]
    assert isinstance(head, RequestHead)
    assert head.headers == [(b"Host", b"a"), (b"X_Y", b"1"), (b"X-Y", b"2")]


def first_error_at(data: bytes, limits: Limits) -> tuple[int, int]:
    """(index of the byte whose feed raised, status), feeding one byte at a time."""
    parser = RequestParser(limits)
    for i in range(len(data)):
        try:
            parser.feed(data[i : i + 1])
        except ProtocolError as exc:
            return i, exc.status
    raise AssertionError("no error")


def test_long_request_line_fails_at_the_first_byte_too_many() -> None:
    # 20 bytes of line, a CR may follow: the 22nd byte without an LF is one too many.
    assert first_error_at(b"GET /" + b"a" * 100, Limits(max_request_line=20)) == (21, 414)


def test_long_header_section_fails_at_the_first_byte_too_many() -> None:
    # The section may hold 100 bytes and the final CRLF: the 102nd byte without it is too many.
    head = b"GET / HTTP/1.1\r\n"
    index, status = first_error_at(head + b"X: " + b"v" * 200, Limits(max_header_size=100))
    assert (index - len(head), status) == (101, 431)


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        pytest.param(b"GET / HTTP/1.1\nHost: a\r\n\r\n", "bare CR or LF", id="bare-lf"),
        pytest.param(b"GET  / HTTP/1.1\r\n", "malformed request line", id="double-space"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "repeated Host", id="host"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Type: a/b\r\ncontent-type: a/c\r\n\r\n",
            "repeated Content-Type",
            id="content-type",
        ),
        pytest.param(
            CHUNKED_HEAD + b"A: 1\r\n 2\r\n\r\n", "obsolete line folding", id="trailer-fold"
        ),
        pytest.param(
            CHUNKED_HEAD + b"A : 1\r\n\r\n", "invalid trailer field name", id="trailer-name"
        ),
        pytest.param(CHUNKED_HEAD[:-3] + b"5;x=\r\n", "malformed chunk extension", id="chunk-ext"),
    ],
)
def test_error_details(raw: bytes, detail: str) -> None:
    parser = RequestParser()
    with pytest.raises(ProtocolError) as info:
        parser.feed(raw)
        parser.feed(b"")  # when the error follows the head's event
    assert detail in info.value.detail


def test_error_property_is_set_when_feed_returned_events_first() -> None:
    parser = RequestParser()
    events = parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/9.9\r\n\r\n")
    assert len(events) == 2  # the good request and its end
    assert parser.error is not None
    assert parser.error.status == 505
    with pytest.raises(ProtocolError):
        parser.feed(b"")
