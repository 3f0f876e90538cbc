"""Property tests for wsgikit._http11: any bytes give events or ProtocolError, nothing else.

Also: mutating one byte of a valid request still gives events or ProtocolError; how the bytes are
split never changes the outcome; and requests built from strategies parse back to what was built.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.http11_vectors import VALID
from wsgikit._http11 import END_OF_MESSAGE, ProtocolError, RequestHead, RequestParser

FAST = settings(deadline=None, max_examples=200)
# RequestHead's attributes are its constructor's parameters; a class compiled with mypyc has no
# __slots__ to list them.
HEAD_FIELDS = tuple(inspect.signature(RequestHead).parameters)

# Pieces of HTTP, so random inputs get deep into the parser and not only the request line.
FRAGMENTS = [
    *(b"GET ", b"POST ", b"HEAD ", b"OPTIONS ", b"FOO ", b"/", b"/a?b", b"*", b"http://h/"),
    *(b" HTTP/1.1", b" HTTP/1.0", b" HTTP/2.0", b"\r\n", b"\r", b"\n", b" ", b"\t", b":"),
    *(b"Host: a", b"Content-Length: ", b"Transfer-Encoding: chunked", b"Connection: close"),
    *(b"Expect: 100-continue", b"X: y", b"0", b"3", b"f", b"ff", b";e=v", b'"q"', b"abc"),
    *(b"\x00", b"\x7f", b"\xff", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
]
# Starts that get past the request line, so the rest of the input tests the later states.
STARTS = [
    b"",
    b"GET / HTTP/1.1\r\nHost: a\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n",
]
tails = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=4), max_size=30).map(b"".join)
httpish = st.tuples(st.sampled_from(STARTS), tails).map(b"".join)
cuts = st.lists(st.integers(min_value=0, max_value=400), max_size=6)


def split(data: bytes, points: list[int]) -> list[bytes]:
    offsets = sorted({p % (len(data) + 1) for p in points})
    return [data[a:b] for a, b in zip([0, *offsets], [*offsets, len(data)], strict=True)]


def summary(head: RequestHead) -> tuple[object, ...]:
    return tuple(getattr(head, name) for name in HEAD_FIELDS)


@dataclass
class Outcome:
    requests: list[tuple[tuple[object, ...], bytes]]
    status: int | None


def outcome(chunks: list[bytes]) -> Outcome:
    """Feed the chunks then EOF; only ProtocolError may escape the parser (anything else fails)."""
    parser = RequestParser()
    requests: list[tuple[tuple[object, ...], bytes]] = []
    head: RequestHead | None = None
    body = b""
    try:
        for chunk in [*chunks, b""]:
            for event in parser.feed(chunk):
                if isinstance(event, RequestHead):
                    head, body = event, b""
                elif isinstance(event, bytes):
                    assert event
                    body += event
                else:
                    assert event is END_OF_MESSAGE
                    assert head is not None
                    requests.append((summary(head), body))
        parser.feed_eof()
    except ProtocolError as exc:
        assert exc.status in {400, 413, 414, 417, 431, 501, 505}
        assert exc.detail
        return Outcome(requests, exc.status)
    return Outcome(requests, None)


valid_raw = st.sampled_from([raw for _, raw, _ in VALID if len(raw) < 400])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = draw(valid_raw)
    at = draw(st.integers(min_value=0, max_value=len(raw)))
    byte = bytes([draw(st.integers(min_value=0, max_value=255))])
    op = draw(st.sampled_from(["insert", "delete", "replace"]))
    if op == "insert":
        return raw[:at] + byte + raw[at:]
    if op == "delete":
        return raw[:at] + raw[at + 1 :]
    return raw[:at] + byte + raw[at + 1 :]


@FAST
@given(mutated(), cuts)
def test_mutated_valid_requests_give_events_or_protocol_error(
    data: bytes, points: list[int]
) -> None:
    outcome(split(data, points))


# -- round trip ----------------------------------------------------------------------------------

METHODS = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "PROPFIND",
    "M-SEARCH",
]
TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
SPECIAL = {b"host", b"content-length", b"transfer-encoding", b"connection", b"expect"}
path_chars = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "#?")
query_chars = path_chars + "?"
vchar = [*range(0x21, 0x7F), *range(0x80, 0x100)]

names = (
    st.text(TCHAR, min_size=1, max_size=12)
    .map(str.encode)
    .filter(lambda n: n.lower() not in SPECIAL)
)
# A field value: visible bytes, with SP/HTAB only inside (OWS around a value is not part of it).
values = st.just(b"") | st.tuples(
    st.sampled_from(vchar), st.lists(st.sampled_from([*vchar, 0x20, 0x09]), max_size=12)
).map(lambda t: bytes([t[0], *t[1], t[0]]))
ows = st.sampled_from([b"", b" ", b"\t", b"  \t"])


@dataclass
class Built:
    raw: bytes
    method: str
    target: bytes
    version: tuple[int, int]
    headers: list[tuple[bytes, bytes]]
    body: bytes
    chunked: bool
    keep_alive: bool


@st.composite
def chunked_body(draw: st.DrawFn, body: bytes) -> bytes:
    cuts = sorted(set(draw(st.lists(st.integers(0, len(body)), max_size=4))))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
    ext = st.sampled_from([b"", b";a", b";a=b", b';a="x y"', b";a=1;b"])
    out = b"".join(b"%x%s\r\n%s\r\n" % (len(p), draw(ext), p) for p in pieces)
    trailers = draw(st.lists(st.tuples(names, values), max_size=2))
    return out + b"0\r\n" + b"".join(b"%s: %s\r\n" % t for t in trailers) + b"\r\n"


@st.composite
def requests(draw: st.DrawFn, last: bool) -> Built:
    method = draw(st.sampled_from(METHODS))
    target = b"/" + draw(st.text(path_chars, max_size=20)).encode()
    if draw(st.booleans()):
        target += b"?" + draw(st.text(query_chars, max_size=10)).encode()
    if method == "OPTIONS" and draw(st.booleans()):
        target = b"*"
    version = draw(st.sampled_from([(1, 0), (1, 1)]))
    headers = [(b"Host", b"example.org")] if version == (1, 1) or draw(st.booleans()) else []
    headers += draw(st.lists(st.tuples(names, values), max_size=8))
    # Only the last request of a pipeline may end the connection (RFC 9112 §9.3).
    keep_alive = not last or draw(st.booleans())
    if keep_alive != (version == (1, 1)) or draw(st.booleans()):
        headers.append((b"Connection", b"keep-alive" if keep_alive else b"close"))
    body = draw(st.binary(max_size=40))
    chunked = version == (1, 1) and bool(body) and draw(st.booleans())
    if chunked:
        headers.append((b"Transfer-Encoding", b"chunked"))
        payload = draw(chunked_body(body))
    elif body or draw(st.booleans()):
        headers.append((b"Content-Length", b"%d" % len(body)))
        payload = body
    else:
        payload = b""
    order = draw(st.permutations(headers))
    lines = b"".join(b"%s:%s%s%s\r\n" % (n, draw(ows), v, draw(ows)) for n, v in order)
    line = b"%s %s HTTP/%d.%d\r\n" % (method.encode(), target, *version)
    raw = line + lines + b"\r\n" + payload
    return Built(raw, method, target, version, list(order), body, chunked, keep_alive)


@st.composite
def pipelines(draw: st.DrawFn) -> list[Built]:
    count = draw(st.integers(1, 3))
    return [draw(requests(last=i == count - 1)) for i in range(count)]


@FAST
@given(pipelines(), cuts)
def test_built_requests_round_trip(built: list[Built], points: list[int]) -> None:
    raw = b"".join(b.raw for b in built)
    result = outcome(split(raw, points))
    assert result.status is None
    assert len(result.requests) == len(built)
    fields = HEAD_FIELDS
    for (head, body), want in zip(result.requests, built, strict=True):
        got = dict(zip(fields, head, strict=True))
        path, _, query = want.target.partition(b"?")
        assert (got["method"], got["target"], got["version"]) == (
            want.method,
            want.target,
            want.version,
        )
        assert (got["path"], got["query"]) == (path, query)
        assert got["headers"] == want.headers
        assert body == want.body
        assert got["chunked"] is want.chunked
        assert got["keep_alive"] is want.keep_alive


@st.composite
def noisy(draw: st.DrawFn) -> bytes:
    """Built requests with a fragment of HTTP (or a random byte) put in somewhere."""
    raw = b"".join(b.raw for b in draw(pipelines()))
    at = draw(st.integers(0, len(raw)))
    return raw[:at] + draw(st.sampled_from(FRAGMENTS) | st.binary(max_size=2)) + raw[at:]


inputs = httpish | st.binary(max_size=200) | mutated() | noisy()


@FAST
@given(inputs, cuts)
def test_any_bytes_give_events_or_protocol_error(data: bytes, points: list[int]) -> None:
    outcome(split(data, points))


@FAST
@given(inputs, cuts)
def test_the_split_never_changes_the_outcome(data: bytes, points: list[int]) -> None:
    assert outcome(split(data, points)) == outcome([data])
