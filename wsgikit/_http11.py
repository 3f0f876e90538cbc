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

The framing is a state machine written down as tables: ``TRANSITIONS`` says, for each state (plain
ints named in ``STATE_NAMES``), what moves it to which state; ``READERS`` gives each state its
reader, which consumes bytes and returns the next state; ``RequestParser._run`` is a loop over
``READERS``. The usual feed, exactly one whole head, takes a short cut (``_whole_head``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeAlias

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from wsgikit._http11_rules import (
    DEFAULT_MAX_BODY,
    HTTP_1_1,
    Limits,
    ProtocolError,
    RequestHead,
    RequestLine,
    bad_request,
    check_field_line,
    check_head,
    parse_chunk_size,
    parse_request_line,
)

__all__ = [
    "BODY",
    "DEFAULT_MAX_BODY",
    "CHUNK_DATA",
    "CHUNK_END",
    "CHUNK_SIZE",
    "CLOSED",
    "END_OF_MESSAGE",
    "HEADERS",
    "READERS",
    "START",
    "STATE_NAMES",
    "TRAILERS",
    "TRANSITIONS",
    "EndOfMessage",
    "Event",
    "Limits",
    "ProtocolError",
    "Reader",
    "RequestHead",
    "RequestParser",
]


class EndOfMessage:
    """The request's body is complete (trailers, if any, were checked and dropped)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END_OF_MESSAGE"


END_OF_MESSAGE: Final = EndOfMessage()
Event: TypeAlias = RequestHead | bytes | EndOfMessage

_MAX_CHUNK_LINE: Final = 4096  # chunk-size line with extensions, without CRLF

# -- the state machine: states, TRANSITIONS, READERS (after RequestParser) -------------------------
# Plain ints, not an Enum: the hot path indexes and compares them.
START, HEADERS, BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS, CLOSED = range(8)
STATE_NAMES: Final = (
    *("START", "HEADERS", "BODY", "CHUNK_SIZE"),
    *("CHUNK_DATA", "CHUNK_END", "TRAILERS", "CLOSED"),
)

# state -> {what the reader met: the next state}. READERS[state] implements each row, and
# tests/test_http11_states.py checks over the vector corpus that they do exactly this. Not rows:
# running out of bytes (the state stays; an unfinished line waits in _partial) and ProtocolError
# (from any state: the parser is dead and never resynchronises).
TRANSITIONS: Final[dict[int, dict[str, int]]] = {
    START: {
        "empty line, ignored (RFC 9112 §2.2)": START,
        "request line (RFC 9112 §3)": HEADERS,
    },
    HEADERS: {  # the head is complete: RequestHead out
        "head, Content-Length > 0 (RFC 9112 §6.2)": BODY,
        "head, Transfer-Encoding chunked (RFC 9112 §6.1)": CHUNK_SIZE,
        "head, no body, keep-alive: END_OF_MESSAGE": START,
        "head, no body, close (RFC 9112 §9.6): END_OF_MESSAGE": CLOSED,
    },
    BODY: {  # body bytes out as they come
        "last body byte, keep-alive: END_OF_MESSAGE": START,
        "last body byte, close: END_OF_MESSAGE": CLOSED,
    },
    CHUNK_SIZE: {
        "chunk-size > 0 (RFC 9112 §7.1)": CHUNK_DATA,
        "last-chunk, size 0": TRAILERS,
    },
    CHUNK_DATA: {"last byte of the chunk": CHUNK_END},  # body bytes out as they come
    CHUNK_END: {"CRLF after chunk-data": CHUNK_SIZE},
    TRAILERS: {
        "trailer field line, checked and dropped (RFC 9112 §7.1.2)": TRAILERS,
        "empty line, keep-alive: END_OF_MESSAGE": START,
        "empty line, close: END_OF_MESSAGE": CLOSED,
    },
    CLOSED: {},  # later bytes are ignored (RFC 9112 §9.6)
}
_TOO_LONG: Final = {  # a line without its LF in time, by state
    CHUNK_SIZE: (400, "chunk-size line too long"),
    TRAILERS: (431, "trailer section too large"),
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
        "_hroom",
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
        self._state = START
        self._partial = bytearray()  # bytes of an unfinished line, kept for the next feed
        self._proto = _Collector()
        self._hp: HttpRequestParser | None = None  # reused while messages end with their head
        self._line: RequestLine = _NO_LINE  # the parsed request line until the head is complete
        self._head = _NO_HEAD  # the current message's head
        self._host = b""  # the last Host value found valid: clients repeat it on every request
        self._remaining = 0  # body or chunk-data bytes still expected
        self._body_total = 0  # chunk sizes so far, for max_body_size
        self._hroom = 0  # in HEADERS: how far past its pos the head may still reach
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
        return self._error is None and self._state in (START, CLOSED) and not self._partial

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Parse ``data``; return the events it completes. Raises :class:`ProtocolError`."""
        error = self._error
        if error is not None:
            raise error.with_traceback(None)
        events: list[Event] = []
        if not data or self._state == CLOSED:
            return events
        try:
            if type(data) is not bytes:
                data = bytes(data)
            if self._state != START or self._partial or not self._whole_head(data, events):
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
            if self._state == CLOSED or (self._state == START and not self._partial):
                return
            error = self._error = bad_request("connection closed before the request was complete")
        raise error.with_traceback(None)

    # -- the state machine: one reader a state (READERS, TRANSITIONS) ------------------------------

    def _run(self, data: bytes, events: list[Event]) -> None:
        """Take ``data`` through READERS from the current state until it is used up."""
        state = self._state
        partial = self._partial
        if partial:  # an incomplete line is waiting: nothing completes before an LF comes
            if b"\n" not in data and len(partial) + len(data) <= self._room(state):
                partial += data  # amortised O(1): no quadratic copying under 1-byte feeds
                return
            buf = bytes(partial) + data
            pos = 2 if state == HEADERS else 0  # a CRLF llhttp has seen comes first: see _read_head
            partial.clear()
        else:
            buf = data
            pos = 0
        n = len(buf)
        readers = READERS
        while pos < n:
            # Each reader consumes from pos and returns the next state and position; it returns
            # (its own state, n) when the bytes run out, having kept an unfinished line in partial.
            state, pos = readers[state](self, buf, pos, events)
        self._state = state

    def _read_start(self, buf: bytes, pos: int, events: list[Event]) -> tuple[int, int]:
        """START: empty lines, then a request line. HEADERS starts at the line's first byte:
        llhttp gets the head from there, request line included."""
        lf = self._line_end(buf, pos, START)
        if lf < 0:
            return START, len(buf)
        line = buf[pos:lf]
        if line == b"\r":  # RFC 9112 §2.2: ignore empty lines before a request line
            return START, lf + 1
        self._start_head(parse_request_line(line))
        self._hroom = lf + 1 - pos + self._limits.max_header_size + 2
        return HEADERS, pos

    def _read_head(self, buf: bytes, pos: int, events: list[Event]) -> tuple[int, int]:
        """HEADERS: give llhttp whole lines until the empty line; then check the head.

        ``pos`` is the request line's first byte, or 2 when resuming: the bytes kept then start
        with the CRLF of the last line llhttp got, so CRLFCRLF is found even when split across
        feeds (a request line cannot hold CRLFCRLF, nor start it two bytes early). The section
        must end before ``pos + _hroom`` (max_header_size, RFC 9112 §5 field lines).
        """
        lim_end = pos + self._hroom
        k = buf.find(b"\r\n\r\n", pos - 2 if pos > 1 else 0, lim_end)
        if k >= 0:
            self._feed_head(buf[pos : k + 4])
            return self._end_head(events), k + 4
        # llhttp gets whole lines only: httptools joins the pieces of a value with "+=", which
        # is quadratic when a long line comes in many small feeds.
        n = len(buf)
        stop = max(buf.rfind(b"\n", pos, min(n, lim_end)) + 1, pos)
        self._feed_head(buf[pos:stop])
        if n >= lim_end:
            raise ProtocolError(431, "header section too large")
        self._hroom = lim_end - stop
        self._partial += buf[stop - 2 :]
        return HEADERS, n

    def _read_body(self, buf: bytes, pos: int, events: list[Event]) -> tuple[int, int]:
        """BODY: Content-Length bytes (RFC 9112 §6.2), passed on as they come."""
        end = self._take(buf, pos, events)
        if end < 0:
            return BODY, len(buf)
        events.append(END_OF_MESSAGE)
        return (START if self._head.keep_alive else CLOSED), end

    def _read_chunk_size(self, buf: bytes, pos: int, events: list[Event]) -> tuple[int, int]:
        """CHUNK_SIZE: chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1); size 0 is the last chunk."""
        lf = self._line_end(buf, pos, CHUNK_SIZE)
        if lf < 0:
            return CHUNK_SIZE, len(buf)
        self._remaining = size = parse_chunk_size(buf[pos:lf])
        self._body_total += size
        max_body = self._limits.max_body_size
        if max_body is not None and self._body_total > max_body:
            raise ProtocolError(413, "body larger than allowed")
        if size:
            return CHUNK_DATA, lf + 1
        self._tused = self._tcount = 0
        return TRAILERS, lf + 1

    def _read_chunk_data(self, buf: bytes, pos: int, events: list[Event]) -> tuple[int, int]:
        """CHUNK_DATA: the chunk's bytes, passed on as they come."""
        end = self._take(buf, pos, events)
        return (CHUNK_DATA, len(buf)) if end < 0 else (CHUNK_END, end)

    def _read_chunk_end(self, buf: bytes, pos: int, events: list[Event]) -> tuple[int, int]:
        """CHUNK_END: the CRLF after chunk-data (RFC 9112 §7.1)."""
        if buf[pos : pos + 2] == b"\r\n":
            return CHUNK_SIZE, pos + 2
        if len(buf) - pos == 1 and buf[pos] != 0x0A:  # a CR, or a wrong byte judged with the next
            self._partial += buf[pos:]
            return CHUNK_END, len(buf)
        raise bad_request("chunk data not followed by CRLF")

    def _read_trailers(self, buf: bytes, pos: int, events: list[Event]) -> tuple[int, int]:
        """TRAILERS: field lines, checked then dropped (RFC 9112 §7.1.2), up to the empty line."""
        lf = self._line_end(buf, pos, TRAILERS)
        if lf < 0:
            return TRAILERS, len(buf)
        line = buf[pos:lf]
        if line != b"\r":
            self._trailer_line(line)
            return TRAILERS, lf + 1
        events.append(END_OF_MESSAGE)
        return (START if self._head.keep_alive else CLOSED), lf + 1

    def _read_closed(self, buf: bytes, pos: int, events: list[Event]) -> tuple[int, int]:
        """CLOSED: bytes after a message without keep-alive are ignored (RFC 9112 §9.6)."""
        return CLOSED, len(buf)

    def _take(self, buf: bytes, pos: int, events: list[Event]) -> int:
        """Pass on the body or chunk bytes still expected: the index after the last one, or -1
        when the bytes run out first."""
        end = pos + self._remaining
        n = len(buf)
        if end > n:
            events.append(buf[pos:])
            self._remaining = end - n
            return -1
        events.append(buf[pos:end])
        return end

    def _line_end(self, buf: bytes, pos: int, state: int) -> int:
        """The index of the LF ending the line at ``pos``; -1 when the bytes run out first (the
        line then waits in partial), ProtocolError when it is too long already."""
        maxlen = self._room(state)
        lf = buf.find(b"\n", pos, pos + maxlen + 1)
        if lf < 0:
            if len(buf) - pos > maxlen:
                raise self._overflow(state, buf[pos:])
            self._partial += buf[pos:]
        return lf

    def _whole_head(self, data: bytes, events: list[Event]) -> bool:
        """The usual case in one step, the work of the START and HEADERS readers: ``data`` is
        exactly one request head.

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

    def _end_head(self, events: list[Event]) -> int:
        """The head is complete and given to llhttp: check it, queue it; the next state."""
        self._head = head = check_head(self._line, self._proto.headers, self._limits, self._host)
        if head.host is not None:
            self._host = head.host
        events.append(head)
        if head.chunked:
            self._body_total = 0
            self._hp = None  # llhttp now expects a body, which we parse here
            return CHUNK_SIZE
        if head.content_length:
            self._remaining = head.content_length
            self._hp = None
            return BODY
        events.append(END_OF_MESSAGE)
        hp = self._hp
        if hp is not None and not hp.should_keep_alive():
            self._hp = None
        return START if head.keep_alive else CLOSED

    def _room(self, state: int) -> int:
        """How many bytes may wait for an LF: a line without its LF, or in the header section
        the CRLF kept before the unfinished line plus that line."""
        limits = self._limits
        if state == START:
            return limits.max_request_line + 1  # with the CR
        if state == HEADERS:
            return self._hroom + 1
        if state == TRAILERS:
            return max(limits.max_header_size - self._tused - 1, 1)  # the section's rest
        return 1 if state == CHUNK_END else _MAX_CHUNK_LINE + 1

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
        if state != START:
            return ProtocolError(*_TOO_LONG[state])
        fields = line[: self._limits.max_request_line + 1].split(b" ")
        if len(fields) > 1 and len(fields[1]) == max(map(len, fields)):
            return ProtocolError(414, "request-target too long")
        return bad_request("request line too long")

    # -- checks ------------------------------------------------------------------------------------

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


Reader: TypeAlias = Callable[[RequestParser, bytes, int, list[Event]], tuple[int, int]]
# state -> its reader: (parser, bytes, position) -> (next state, next position); see TRANSITIONS.
READERS: Final[dict[int, Reader]] = {
    START: RequestParser._read_start,
    HEADERS: RequestParser._read_head,
    BODY: RequestParser._read_body,
    CHUNK_SIZE: RequestParser._read_chunk_size,
    CHUNK_DATA: RequestParser._read_chunk_data,
    CHUNK_END: RequestParser._read_chunk_end,
    TRAILERS: RequestParser._read_trailers,
    CLOSED: RequestParser._read_closed,
}
