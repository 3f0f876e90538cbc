"""Sans-I/O SCGI codec: a strict parser for one SCGI request, and the matching encoder.

Use it from an SCGI server (or to test one): feed the bytes read from the web server and get the
request headers, the body in pieces, then :data:`END`. SCGI carries exactly one request per
connection (SCGI protocol, python.ca/scgi/protocol.txt §2). Protocol violations raise
:class:`SCGIError`; bad arguments to :func:`encode_request` raise :class:`ValueError`::

    parser = SCGIParser(max_body_size=10 << 20)
    for event in parser.feed(encode_request([(b"REQUEST_METHOD", b"GET")])):
        if isinstance(event, SCGIRequest):
            headers = event.headers
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, TypeAlias

_MAX_DIGITS: Final = 7  # netstring length: at most 7 digits (9,999,999 bytes of headers)
_MAX_CL_DIGITS: Final = 18  # CONTENT_LENGTH beyond 10**18 bytes is hostile, not a real body
_log = logging.getLogger("wsgikit.error")


class SCGIError(Exception):
    """The peer broke the SCGI protocol; the connection cannot continue and must be closed."""


@dataclass(slots=True)
class SCGIRequest:
    """The netstring of headers arrived: ``headers`` in wire order, CONTENT_LENGTH first.

    A name sent more than once appears once, where it came first, with its last value;
    ``repeated`` lists such names.
    """

    headers: list[tuple[bytes, bytes]]
    content_length: int
    repeated: list[bytes] = field(default_factory=list)


class SCGIEnd(enum.Enum):
    """Type of the :data:`END` marker."""

    END = "END"


END: Final = SCGIEnd.END
"""The whole body (exactly CONTENT_LENGTH bytes) has arrived."""

SCGIEvent: TypeAlias = SCGIRequest | bytes | SCGIEnd
"""What :meth:`SCGIParser.feed` returns: one SCGIRequest, then non-empty body pieces, then END."""


def encode_request(headers: Iterable[tuple[bytes, bytes]], body: bytes = b"") -> bytes:
    """Encode one SCGI request: CONTENT_LENGTH (first) and ``SCGI: 1`` are added for you.

    ``headers`` must not contain those two names, duplicates, empty names or NUL bytes.
    """
    fields = [(b"CONTENT_LENGTH", str(len(body)).encode()), (b"SCGI", b"1")]
    seen = {b"CONTENT_LENGTH", b"SCGI"}
    for name, value in headers:
        if not name or b"\0" in name or b"\0" in value:
            raise ValueError(f"SCGI header {name!r}: names must be non-empty, no NUL bytes")
        if name in seen:
            raise ValueError(f"SCGI header {name!r} given twice (or set by encode_request)")
        seen.add(name)
        fields.append((name, value))
    block = b"".join(b"%s\0%s\0" % pair for pair in fields)
    return b"%d:%s,%s" % (len(block), block, body)


def _parse_headers(block: bytes) -> tuple[list[tuple[bytes, bytes]], int, list[bytes]]:
    """(headers with one value a name, CONTENT_LENGTH, the names that came more than once)."""
    # protocol.txt §3: headers ::= (name NUL value NUL)*, name non-empty, the first header is
    # CONTENT_LENGTH with 1*DIGIT, and "SCGI" must be present with the value "1".
    if not block:
        raise SCGIError("SCGI header block is empty (CONTENT_LENGTH must come first)")
    if not block.endswith(b"\0"):
        raise SCGIError("SCGI header block must end with a NUL byte")
    fields = block[:-1].split(b"\0")
    if len(fields) % 2:
        raise SCGIError(f"SCGI header block holds an odd number ({len(fields)}) of strings")
    pairs = list(zip(fields[0::2], fields[1::2], strict=True))
    first, length = pairs[0]
    if first != b"CONTENT_LENGTH":
        raise SCGIError(f"first SCGI header must be CONTENT_LENGTH, got {first[:64]!r}")
    # protocol.txt says "duplicate names are not allowed", but nginx sends a name twice when
    # scgi_param sets one its stock scgi_params already set (HTTP_HOST: $host, then $http_host);
    # nginx and Apache let the last value win for FastCGI, and so do we here.
    merged: dict[bytes, bytes] = {}  # first position, last value
    for name, value in pairs:
        if not name:
            raise SCGIError("SCGI header with an empty name")
        if name == b"CONTENT_LENGTH" and value != length:
            # The first CONTENT_LENGTH frames the body (protocol.txt §3): a different later one
            # is the web server contradicting itself about the framing, and whichever value the
            # app saw, it could read a body that is not the one sent. Same rule as RFC 9110 §8.6.
            raise SCGIError(f"SCGI CONTENT_LENGTH given twice: {length[:64]!r}, {value[:64]!r}")
        if name == b"SCGI" and value != b"1":
            raise SCGIError(f'SCGI header "SCGI" must be "1" ({value[:64]!r})')
        merged[name] = value
    if not length.isdigit():  # bytes.isdigit() is ASCII-only
        raise SCGIError(f"SCGI CONTENT_LENGTH {length[:64]!r} is not a decimal number")
    if len(length.lstrip(b"0")) > _MAX_CL_DIGITS:
        raise SCGIError(f"SCGI CONTENT_LENGTH {length[:64]!r} is too large")
    if b"SCGI" not in merged:
        raise SCGIError('SCGI header "SCGI" must be "1" (missing)')
    repeated = [] if len(merged) == len(pairs) else _repeated(pairs)
    return list(merged.items()), int(length), repeated


def _repeated(pairs: list[tuple[bytes, bytes]]) -> list[bytes]:
    seen: set[bytes] = set()
    again: dict[bytes, None] = {}  # in order, once each
    for name, _value in pairs:
        if name in seen:
            again[name] = None
        seen.add(name)
    return list(again)


class SCGIParser:
    """Parse one SCGI request: ``feed()`` bytes, get :data:`SCGIEvent` items; ``feed_eof()`` at EOF.

    ``max_header_size`` bounds the netstring of headers (at most 9,999,999: 7 digits);
    ``max_body_size`` (None: unlimited) bounds CONTENT_LENGTH. After an :class:`SCGIError` the
    parser keeps raising it.
    """

    def __init__(self, *, max_header_size: int = 65536, max_body_size: int | None = None) -> None:
        if not 0 < max_header_size < 10**_MAX_DIGITS:
            raise ValueError(f"max_header_size must be in 1..9999999, got {max_header_size}")
        if max_body_size is not None and max_body_size < 0:
            raise ValueError(f"max_body_size must be >= 0 or None, got {max_body_size}")
        self._max_header = max_header_size
        self._max_body = max_body_size
        self._head = bytearray()  # bytes of the netstring received so far
        self._need = -1  # size of the whole netstring, once its length digits are in
        self._remaining = -1  # body bytes still expected; -1 while reading the netstring
        self._done = False
        self._error: SCGIError | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[SCGIEvent]:
        """Parse ``data``; return the events it completes, or raise :class:`SCGIError`."""
        if self._error is not None:
            raise self._error
        try:
            return self._feed(bytes(data))
        except SCGIError as err:
            self._error = err
            raise

    def feed_eof(self) -> None:
        """The web server closed the connection: raise :class:`SCGIError` unless END was reached."""
        if self._error is not None:
            raise self._error
        if self._done:
            return
        if self._remaining >= 0:
            where = f"with {self._remaining} body bytes missing"
        elif self._head:
            where = "inside the header netstring"
        else:
            where = "before any request bytes"
        self._error = SCGIError(f"connection closed {where}")
        raise self._error

    def _feed(self, data: bytes) -> list[SCGIEvent]:
        events: list[SCGIEvent] = []
        if not data:
            return events
        if self._done:
            raise SCGIError("data after the SCGI request body (one request per connection)")
        if self._remaining < 0:
            buf: bytes | bytearray = data
            if self._head:
                self._head += data
                buf = self._head
            if self._need < 0:
                self._need = self._netstring_size(buf)
            if self._need < 0 or len(buf) < self._need:
                if buf is data:
                    self._head = bytearray(data)
                return events  # the head is only parsed once complete: O(n) when fed bytewise
            request = self._parse_head(buf)
            data = bytes(buf[self._need :])
            self._head = bytearray()
            self._remaining = request.content_length
            events.append(request)
        if len(data) > self._remaining:
            extra = len(data) - self._remaining
            raise SCGIError(
                f"{extra} bytes after the SCGI request body (one request per connection)"
            )
        if data:
            self._remaining -= len(data)
            events.append(data)
        if self._remaining == 0:
            self._done = True
            events.append(END)
        return events

    def _netstring_size(self, buf: bytes | bytearray) -> int:
        """Bytes of the whole netstring once its length is known, else -1; checks the digits."""
        # Netstring (cr.yp.to/proto/netstrings.txt): <digits> ":" <block> ",". SCGI protocol.txt
        # adds: the number must not start with "0" (unless it is "0"); we cap it at 7 digits.
        colon = buf.find(b":", 0, _MAX_DIGITS + 1)
        digits = bytes(buf[: colon if colon >= 0 else _MAX_DIGITS + 1])
        if colon == 0:
            raise SCGIError("SCGI netstring length is empty")
        if not digits.isdigit():
            raise SCGIError(f"SCGI netstring length {digits!r} is not a decimal number")
        if len(digits) > _MAX_DIGITS:
            raise SCGIError("SCGI netstring length has more than 7 digits")
        if len(digits) > 1 and digits.startswith(b"0"):
            raise SCGIError(f"SCGI netstring length {digits!r} has a leading zero")
        size = int(digits)
        if size > self._max_header:
            raise SCGIError(f"SCGI headers of {size} bytes exceed the limit of {self._max_header}")
        return -1 if colon < 0 else colon + 1 + size + 1

    def _parse_head(self, buf: bytes | bytearray) -> SCGIRequest:
        end = self._need - 1
        if buf[end] != ord(","):
            raise SCGIError(f"SCGI netstring ends with {bytes(buf[end : end + 1])!r}, expected ','")
        start = buf.index(b":") + 1
        headers, content_length, repeated = _parse_headers(bytes(buf[start:end]))
        if self._max_body is not None and content_length > self._max_body:
            raise SCGIError(
                f"SCGI CONTENT_LENGTH {content_length} exceeds the limit of {self._max_body}"
            )
        if repeated:  # one request a connection: at most one line a connection
            names = ", ".join(name[:64].decode("latin-1") for name in repeated[:8])
            _log.debug("SCGI headers sent more than once, the last value wins: %s", names)
        return SCGIRequest(headers, content_length, repeated)
