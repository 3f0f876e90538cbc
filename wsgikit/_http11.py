"""Sans-I/O HTTP/1.1: a strict request parser (on httptools/llhttp) and the response-head writer.

Bytes in, request events or a :class:`ProtocolError` out; no socket here. The servers feed bytes
they read and send the bytes this module (and :mod:`wsgikit.gateway`) produce::

    parser = RequestParser()
    for event in parser.feed(b"GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n"):
        ...

Events: a :class:`RequestHead`, body pieces (non-empty ``bytes``), ``END_OF_MESSAGE``; pipelined
requests follow. On :class:`ProtocolError` answer ``error.status`` and close: the parser is dead
and never resynchronises. An error behind events of the same ``feed`` call is raised by the next
call (``feed(b"")`` is enough), so the requests before the bad bytes can still be answered.

Python frames each message (head end, body length, chunked framing), so limits are exact and one
request's bytes are never read as another's; llhttp tokenises and checks the head in C. What llhttp
lets through is refused here (doubled spaces, HTTP/0.9, fragments, other versions, bare LF before
a request, Host, Transfer-Encoding and Expect rules, Content-Length >= 2**63, a repeated
Content-Type).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, TypeAlias

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from wsgikit._http11_rules import (
    HTTP_1_1,
    ProtocolError,
    RequestLine,
    bad_request,
    check_field_line,
    is_chunked,
    parse_chunk_size,
    parse_request_line,
    valid_host,
)

__all__ = [
    "END_OF_MESSAGE",
    "EndOfMessage",
    "Event",
    "Limits",
    "ProtocolError",
    "RequestHead",
    "RequestParser",
    "format_response_head",
]


def format_response_head(status: str, headers: Iterable[tuple[str, str]], extra: str = "") -> bytes:
    """Serialise a status line and header fields, ending with the empty line (RFC 9112 §4, §5).

    ``status`` and ``headers`` are PEP 3333 native strings, sent as latin-1 (PEP 3333 "Unicode
    Issues"); ``extra`` is more field lines, each ending in CRLF (the server's own). The caller has
    already checked everything for CR/LF and control characters. RFC 9112 §2.3: the version is
    the highest we conform to, HTTP/1.1, also towards HTTP/1.0 clients.
    """
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers])
    return f"HTTP/1.1 {status}\r\n{lines}{extra}\r\n".encode("latin-1")


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits; each is inclusive (a request exactly at a limit is accepted).

    ``max_request_line``: bytes of the request line without its CRLF (414 when the target is
    what makes it long, else 400). ``max_header_size``: bytes of the header field lines with their
    CRLFs, without the request line and the final empty line (431); the trailer section has the
    same limit. ``max_headers``: header (and trailer) field lines (431). ``max_body_size``: body
    bytes, checked against Content-Length up front and against the sum of chunk sizes (413).
    """

    max_request_line: int = 8192
    max_header_size: int = 65536
    max_headers: int = 100
    max_body_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_request_line", "max_header_size", "max_headers"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"Limits.{name} must be an int >= 1, got {value!r}")
        body = self.max_body_size
        if body is not None and (type(body) is not int or body < 0):
            raise ValueError(f"Limits.max_body_size must be None or an int >= 0, got {body!r}")


class RequestHead:
    """A parsed request line and header section; plain attributes (see the module docstring)."""

    __slots__ = (
        "authority",
        "chunked",
        "content_length",
        "expect_continue",
        "headers",
        "host",
        "keep_alive",
        "method",
        "path",
        "query",
        "target",
        "version",
    )

    def __init__(  # noqa: PLR0917  # one positional call per request, in attribute order
        self,
        method: str,
        target: bytes,
        path: bytes,
        query: bytes,
        authority: bytes | None,
        version: tuple[int, int],
        headers: list[tuple[bytes, bytes]],
        host: bytes | None = None,
        content_length: int | None = None,
        chunked: bool = False,
        keep_alive: bool = True,
        expect_continue: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.authority = authority
        self.version = version
        self.headers = headers
        self.host = host
        self.content_length = content_length
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue

    def __repr__(self) -> str:
        major, minor = self.version
        return f"<RequestHead {self.method} {self.target!r} HTTP/{major}.{minor}>"


class EndOfMessage:
    """The request's body is complete (trailers, if any, were checked and dropped)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END_OF_MESSAGE"


END_OF_MESSAGE: Final = EndOfMessage()
Event: TypeAlias = RequestHead | bytes | EndOfMessage

_HOST, _CL, _TE, _CONN, _EXPECT, _CT = range(6)
_SPECIAL: Final = {
    b"host": _HOST,
    b"content-length": _CL,
    b"transfer-encoding": _TE,
    b"connection": _CONN,
    b"expect": _EXPECT,
    b"content-type": _CT,
}
_MAX_CHUNK_LINE: Final = 4096  # chunk-size line with extensions, without CRLF

# Parser states
_START, _HEADERS, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _CLOSED = range(8)
_TOO_LONG: Final = {  # a line without its LF in time, by state
    _CHUNK_SIZE: (400, "chunk-size line too long"),
    _CHUNK_END: (400, "chunk data not followed by CRLF"),
    _TRAILERS: (431, "trailer section too large"),
}


class _Collector:
    """The llhttp callback target: collects header fields; no reference back to the parser."""

    __slots__ = ("headers", "on_headers_complete", "pending")

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        # Non-empty until llhttp completes the head; emptied by a C call, no Python frame.
        self.pending = [True]
        self.on_headers_complete = self.pending.clear

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp drops the leading OWS and keeps the trailing OWS; neither is part of the value
        # (RFC 9112 §5). rstrip returns the same object when there is nothing to strip.
        self.headers.append((name, value.rstrip(b" \t")))


_DEFAULT_LIMITS: Final = Limits()
_NO_HEAD: Final = RequestHead("GET", b"", b"", b"", None, HTTP_1_1, [])
# method, target, path, query, authority, version
_NO_LINE: Final[RequestLine] = ("GET", b"", b"", b"", None, HTTP_1_1)


class RequestParser:
    """Incremental, strict HTTP/1.1 request parser for one connection (see the module docstring).

    ``feed(data)`` returns the events the bytes complete, possibly several pipelined requests, or
    raises :class:`ProtocolError`. After a request without keep-alive (``Connection: close``, or
    HTTP/1.0 without ``keep-alive``) later bytes are ignored, as RFC 9112 §9.6 asks.
    """

    __slots__ = (
        "_body_total",
        "_error",
        "_head",
        "_host",
        "_hp",
        "_hused",
        "_limits",
        "_line",
        "_partial",
        "_proto",
        "_remaining",
        "_state",
        "_tcount",
        "_tused",
    )

    def __init__(self, limits: Limits = _DEFAULT_LIMITS) -> None:
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, got {type(limits).__name__}")
        self._limits = limits
        self._state = _START
        self._partial = bytearray()  # bytes of an unfinished line, kept for the next feed
        self._proto = _Collector()
        self._hp: HttpRequestParser | None = None  # reused while messages end with their head
        self._line: RequestLine = _NO_LINE  # the parsed request line until the head is complete
        self._head = _NO_HEAD  # the current message's head
        self._host = b""  # the last Host value found valid: clients repeat it on every request
        self._remaining = 0  # body or chunk-data bytes still expected
        self._body_total = 0  # chunk sizes so far, for max_body_size
        self._hused = 0  # header-section bytes given to llhttp so far
        self._tused = self._tcount = 0  # trailer-section bytes and fields so far
        self._error: ProtocolError | None = None

    @property
    def error(self) -> ProtocolError | None:
        """The error that ended this parser: set once ``feed`` met it, even if that call still
        returned the events before it (the next ``feed`` raises it)."""
        return self._error

    @property
    def idle(self) -> bool:
        """True between messages with nothing of a next request buffered (keep-alive timers)."""
        return self._error is None and self._state in (_START, _CLOSED) and not self._partial

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data``; return the events it completes. Raises :class:`ProtocolError`."""
        error = self._error
        if error is not None:
            raise error.with_traceback(None)
        events: list[Event] = []
        if not data or self._state == _CLOSED:
            return events
        try:
            if type(data) is not bytes:
                data = bytes(data)
            if self._state != _START or self._partial or not self._whole_head(data, events):
                self._run(data, events)
        except ProtocolError as exc:
            self._error = exc
            self._hp = None
            if not events:
                raise
        return events

    def feed_eof(self) -> None:
        """The peer closed its side: raise ProtocolError(400) if a request was left incomplete."""
        error = self._error
        if error is None:
            if self._state == _CLOSED or (self._state == _START and not self._partial):
                return
            error = self._error = bad_request("connection closed before the request was complete")
        raise error.with_traceback(None)

    # -- the state machine ------------------------------------------------------------------------

    def _run(self, data: bytes, events: list[Event]) -> None:
        limits = self._limits
        state = self._state
        partial = self._partial
        if partial:  # an incomplete line is waiting: nothing completes before an LF comes
            if b"\n" not in data and len(partial) + len(data) <= self._room(state):
                partial += data  # amortised O(1): no quadratic copying under 1-byte feeds
                return
            buf = bytes(partial) + data
            pos = feed_from = 2 if state == _HEADERS else 0  # see the HEADERS branch
            partial.clear()
        else:
            buf = data
            pos = feed_from = 0  # feed_from: start of the head bytes not yet given to llhttp
        n = len(buf)
        while (pos < n or state == _HEADERS) and state != _CLOSED:
            if state == _HEADERS:
                # Invariant: buf[pos - 2 : pos] is the CRLF of the request line or of the last
                # field line given to llhttp, so CRLFCRLF is found even when split across feeds.
                hused = self._hused
                lim_end = pos + limits.max_header_size + 2 - hused  # the section must end by here
                k = buf.find(b"\r\n\r\n", pos - 2, lim_end)
                if k < 0:
                    # llhttp gets whole lines only: httptools joins the pieces of a value with
                    # "+=", which is quadratic when a long line comes in many small feeds.
                    stop = max(buf.rfind(b"\n", pos, min(n, lim_end)) + 1, pos)
                    self._feed_head(buf[feed_from:stop])
                    if n >= lim_end:
                        raise ProtocolError(431, "header section too large")
                    self._hused = hused + stop - pos
                    partial += buf[stop - 2 :]
                    break
                pos = k + 4
                self._feed_head(buf[feed_from:pos])
                state = self._end_head(events)
                continue

            if state in (_BODY, _CHUNK_DATA):
                rem = self._remaining
                if n - pos < rem:
                    events.append(buf[pos:])
                    self._remaining = rem - (n - pos)
                    break
                events.append(buf[pos : pos + rem])
                pos += rem
                if state == _CHUNK_DATA:
                    state = _CHUNK_END
                    continue
                events.append(END_OF_MESSAGE)
                state = _START if self._head.keep_alive else _CLOSED
                continue

            # A line: request line, chunk-size line, CRLF after chunk data, or trailer field line.
            maxlen = limits.max_request_line + 1 if state == _START else self._room(state)
            lf = buf.find(b"\n", pos, pos + maxlen + 1)
            if lf < 0:
                if n - pos > maxlen:
                    raise self._overflow(state, buf[pos:])
                partial += buf[pos:]
                break
            line = buf[pos:lf]
            start = pos
            pos = lf + 1
            if state == _START:
                if line == b"\r":  # RFC 9112 §2.2: ignore empty lines before a request line
                    continue
                self._start_head(parse_request_line(line))
                feed_from = start
                state = _HEADERS
            elif state == _CHUNK_SIZE:
                size = parse_chunk_size(line)
                self._body_total += size
                max_body = limits.max_body_size
                if max_body is not None and self._body_total > max_body:
                    raise ProtocolError(413, "body larger than allowed")
                state = _CHUNK_DATA if size else _TRAILERS
                self._remaining = size
                self._tused = self._tcount = 0
            elif state == _CHUNK_END:
                if line != b"\r":  # RFC 9112 §7.1: chunk-data CRLF
                    raise bad_request("chunk data not followed by CRLF")
                state = _CHUNK_SIZE
            elif line != b"\r":
                self._trailer_line(line)
            else:  # the empty line ending the trailer section
                events.append(END_OF_MESSAGE)
                state = _START if self._head.keep_alive else _CLOSED
        if state == _CLOSED:
            partial.clear()
        self._state = state

    def _whole_head(self, data: bytes, events: list[Event]) -> bool:
        """The usual case, without the state machine: ``data`` is exactly one request head.

        Returns False, having done nothing, for anything else (empty lines first, a body or a next
        request in the same bytes, limits near); :meth:`_run` then takes the bytes as they come.
        """
        limits = self._limits
        lf = data.find(b"\n")
        if (
            lf < 2
            or lf > limits.max_request_line + 1
            or data.find(b"\r\n\r\n", lf - 1) != len(data) - 4
            or len(data) > lf + 3 + limits.max_header_size
        ):
            return False
        self._start_head(parse_request_line(data[:lf]))
        self._feed_head(data)
        self._state = self._end_head(events)
        return True

    def _start_head(self, line: RequestLine) -> None:
        self._line = line
        proto = self._proto
        proto.headers = []
        proto.pending.append(True)
        if self._hp is None:
            self._hp = HttpRequestParser(proto)
        self._hused = 0

    def _end_head(self, events: list[Event]) -> int:
        """The head is complete and given to llhttp: check it, queue it; the next state."""
        self._head = head = self._check_head()
        events.append(head)
        if head.chunked:
            self._body_total = 0
            self._hp = None  # llhttp now expects a body, which we parse here
            return _CHUNK_SIZE
        if head.content_length:
            self._remaining = head.content_length
            self._hp = None
            return _BODY
        events.append(END_OF_MESSAGE)
        hp = self._hp
        if hp is not None and not hp.should_keep_alive():
            self._hp = None
        return _START if head.keep_alive else _CLOSED

    def _room(self, state: int) -> int:
        """How many bytes may wait for an LF: a line without its LF, or in the header section
        the CRLF kept before the unfinished line plus that line."""
        limits = self._limits
        if state == _START:
            return limits.max_request_line + 1  # with the CR
        if state == _HEADERS:
            return limits.max_header_size + 3 - self._hused
        if state == _TRAILERS:
            return max(limits.max_header_size - self._tused - 1, 1)  # the section's rest
        return 1 if state == _CHUNK_END else _MAX_CHUNK_LINE + 1

    def _feed_head(self, chunk: bytes) -> None:
        hp = self._hp
        assert hp is not None
        try:
            hp.feed_data(chunk)
        except HttpParserUpgrade:
            # llhttp stops at an Upgrade (or takes what follows for another protocol); we ignore
            # Upgrade and frame the body ourselves, so just take a fresh llhttp next time.
            self._hp = None
        except HttpParserError as exc:
            if self._proto.pending:
                raise bad_request(f"malformed request head: {exc}") from None
            # After the head llhttp only judges body framing, which is ours (e.g. it refuses
            # "chunked<HTAB>", whose OWS is not part of the value): ignore, and do not reuse it.
            self._hp = None

    def _overflow(self, state: int, line: bytes) -> ProtocolError:
        """The error for a line over its limit (decided on a fixed prefix, so split-proof)."""
        if state != _START:
            return ProtocolError(*_TOO_LONG[state])
        fields = line[: self._limits.max_request_line + 1].split(b" ")
        if len(fields) > 1 and len(fields[1]) == max(map(len, fields)):
            return ProtocolError(414, "request-target too long")
        return bad_request("request line too long")

    # -- checks ------------------------------------------------------------------------------------

    def _check_head(self) -> RequestHead:
        """Header-section rules llhttp leaves to us; the head with its framing attributes."""
        headers = self._proto.headers
        limits = self._limits
        if len(headers) > limits.max_headers:
            raise ProtocolError(431, "too many header fields")
        host = cl = te = None
        close = keep = expect = bad_expect = typed = False
        special = _SPECIAL
        for name, value in headers:
            kind = special.get(name.lower())
            if kind is None:
                continue
            if kind == _HOST:
                if host is not None:
                    raise bad_request("repeated Host")  # RFC 9112 §3.2
                if value != self._host:
                    if not valid_host(value):
                        raise bad_request("invalid Host")
                    self._host = value
                host = value
            elif kind == _CL:
                # RFC 9110 §8.6 lets a recipient merge identical values; refusing any repeat is the
                # simplest rule that can never disagree with another parser about the body length.
                if cl is not None:
                    raise bad_request("repeated Content-Length")
                if not value.isdigit() or len(value) > 19:  # 1*DIGIT ("007" is 7), < 2**63
                    raise bad_request("invalid Content-Length")
                cl = int(value)
                if cl >= 1 << 63:
                    raise bad_request("Content-Length too large")
            elif kind == _TE:
                if te is not None:
                    raise bad_request("repeated Transfer-Encoding")
                te = value
            elif kind == _CONN:  # RFC 9112 §9.3
                v = value.lower()
                if v == b"close":
                    close = True
                elif v == b"keep-alive":
                    keep = True
                else:
                    options = [o.strip(b" \t") for o in v.split(b",")]
                    close = close or b"close" in options
                    keep = keep or b"keep-alive" in options
            elif kind == _CT:
                # A singleton field (RFC 9110 §8.3, §5.3): two lines cannot be combined into one
                # media type, and CONTENT_TYPE holds one (PEP 3333). Merging or last-wins would
                # let the app and a proxy before us see different types; gunicorn, waitress: 400.
                if typed:
                    raise bad_request("repeated Content-Type")
                typed = True
            elif value.lower() == b"100-continue":  # Expect; RFC 9110 §10.1.1
                expect = True
            else:
                bad_expect = True
        method, target, path, query, netloc, version = self._line  # netloc: the authority
        if host is None and version is HTTP_1_1:
            raise bad_request("missing Host")  # RFC 9112 §3.2
        chunked = False
        if te is not None:
            chunked = is_chunked(te, version, cl)
        max_body = limits.max_body_size
        if cl is not None and max_body is not None and cl > max_body:
            raise ProtocolError(413, "body larger than allowed")
        if bad_expect:
            raise ProtocolError(417, "unsupported expectation")  # RFC 9110 §10.1.1
        alive = not close and (keep or version is HTTP_1_1)
        expect = expect and version is HTTP_1_1  # RFC 9110 §10.1.1: ignored in HTTP/1.0
        return RequestHead(
            method, target, path, query, netloc, version, headers, host, cl, chunked, alive, expect
        )

    def _trailer_line(self, line: bytes) -> None:
        """A trailer field line is checked like a header line, then dropped (RFC 9112 §7.1.2)."""
        limits = self._limits
        self._tused += len(line) + 1
        self._tcount += 1
        if self._tused > limits.max_header_size:
            raise ProtocolError(431, "trailer section too large")
        if self._tcount > limits.max_headers:
            raise ProtocolError(431, "too many trailer fields")
        check_field_line(line)
