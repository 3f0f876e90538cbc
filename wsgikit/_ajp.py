"""Sans-I/O AJP13 codec: the container side of the Apache JServ Protocol 1.3.

Use it from an AJP server (Apache ``mod_proxy_ajp``, ``mod_jk`` and other Tomcat-style front
ends speak it): feed the bytes read from the web server, act on the events, send what
:meth:`AJPProtocol.data_to_send` returns (CPong answers, GET_BODY_CHUNK requests) and the
packets the ``send_headers``/``body``/``end_response`` encoders make. One request at a time per
connection; connections are reused (END_RESPONSE's reuse flag). Protocol violations raise
:class:`AJPError` (close the connection, log ``str(err)``); misuse of the encoders raises
:class:`ValueError`. No sockets::

    conn = AJPProtocol()
    for event in conn.feed(data):
        if isinstance(event, ForwardRequest):
            out = [conn.send_headers(200, b"OK", [(b"Content-Type", b"text/plain")])]
            out += conn.body(b"hi")
            out.append(conn.end_response(reuse=True))

The wire format is the Apache Tomcat Connectors' "AJPv13" document (tomcat.apache.org/
connectors-doc/ajp/ajpv13a.html), as httpd's ``modules/proxy/ajp_header.c`` writes and reads it.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeAlias

# Packet types (ajpv13a "Packet Types"): web server -> container, then container -> web server.
FORWARD_REQUEST: Final = 2
SHUTDOWN: Final = 7
CPING: Final = 10
SEND_BODY_CHUNK: Final = 3
SEND_HEADERS: Final = 4
END_RESPONSE: Final = 5
GET_BODY_CHUNK: Final = 6
CPONG: Final = 9

MIN_PACKET: Final = 8192  # ajpv13a: "the maximum packet size is 8 * 1024 bytes" by default
MAX_PACKET: Final = 65536  # httpd's AJP_MAX_BUFFER_SZ (ProxyIOBufferSize), Tomcat packetSize
_IN_MAGIC: Final = b"\x12\x34"  # web server -> container
_OUT_MAGIC: Final = b"AB"  # container -> web server
_U16 = struct.Struct("!H")
_HEAD = struct.Struct("!2sH")
_CHUNK_HEAD = struct.Struct("!2sHBH")  # "AB", length, SEND_BODY_CHUNK, chunk length
_NULL: Final = 0xFFFF  # a string length of 0xFFFF is the null string (no bytes, no NUL)

METHODS: Final = {
    1: "OPTIONS", 2: "GET", 3: "HEAD", 4: "POST", 5: "PUT", 6: "DELETE", 7: "TRACE",
    8: "PROPFIND", 9: "PROPPATCH", 10: "MKCOL", 11: "COPY", 12: "MOVE", 13: "LOCK",
    14: "UNLOCK", 15: "ACL", 16: "REPORT", 17: "VERSION-CONTROL", 18: "CHECKIN",
    19: "CHECKOUT", 20: "UNCHECKOUT", 21: "SEARCH", 22: "MKWORKSPACE", 23: "UPDATE",
    24: "LABEL", 25: "MERGE", 26: "BASELINE-CONTROL", 27: "MKACTIVITY",
}  # fmt: skip
STORED_METHOD: Final = 0xFF  # the method's name follows as the stored_method attribute
METHOD_CODES: Final = {name: code for code, name in METHODS.items()}

REQUEST_HEADERS: Final = {
    0xA001: b"accept", 0xA002: b"accept-charset", 0xA003: b"accept-encoding",
    0xA004: b"accept-language", 0xA005: b"authorization", 0xA006: b"connection",
    0xA007: b"content-type", 0xA008: b"content-length", 0xA009: b"cookie",
    0xA00A: b"cookie2", 0xA00B: b"host", 0xA00C: b"pragma", 0xA00D: b"referer",
    0xA00E: b"user-agent",
}  # fmt: skip
REQUEST_HEADER_CODES: Final = {name: code for code, name in REQUEST_HEADERS.items()}
RESPONSE_HEADER_CODES: Final = {
    b"content-type": 0xA001, b"content-language": 0xA002, b"content-length": 0xA003,
    b"date": 0xA004, b"last-modified": 0xA005, b"location": 0xA006, b"set-cookie": 0xA007,
    b"set-cookie2": 0xA008, b"servlet-engine": 0xA009, b"status": 0xA00A,
    b"www-authenticate": 0xA00B,
}  # fmt: skip

# Attributes (ajpv13a "Optional information"): code -> name; req_attribute (0x0A) is a pair.
ATTRIBUTES: Final = {
    0x01: "context", 0x02: "servlet_path", 0x03: "remote_user", 0x04: "auth_type",
    0x05: "query_string", 0x06: "route", 0x07: "ssl_cert", 0x08: "ssl_cipher",
    0x09: "ssl_session", 0x0B: "ssl_key_size", 0x0C: "secret", 0x0D: "stored_method",
}  # fmt: skip
ATTRIBUTE_CODES: Final = {name: code for code, name in ATTRIBUTES.items()}
REQ_ATTRIBUTE: Final = 0x0A
SSL_KEY_SIZE: Final = 0x0B  # an integer, not a string (httpd: ajp_msg_append_uint16)
ARE_DONE: Final = 0xFF


class AJPError(Exception):
    """The peer broke the AJP13 protocol; the connection cannot continue and must be closed."""


@dataclass(slots=True)
class ForwardRequest:
    """A FORWARD_REQUEST packet: the request line, headers and attributes. The body follows.

    ``headers`` keep the wire order, coded names in lower case; ``attributes`` maps the names of
    :data:`ATTRIBUTES` to their values (``ssl_key_size`` as decimal digits); ``req_attributes``
    are httpd's ``AJP_*`` environment variables (prefix stripped) and ``AJP_REMOTE_PORT``.
    ``content_length`` is None when the body's length is unknown (a chunked upload: the body
    ends with an empty packet) or there is no body.
    """

    method: str
    protocol: bytes
    uri: bytes
    remote_addr: bytes
    remote_host: bytes
    server_name: bytes
    server_port: int
    is_ssl: bool
    headers: list[tuple[bytes, bytes]]
    attributes: dict[str, bytes] = field(default_factory=dict)
    req_attributes: list[tuple[bytes, bytes]] = field(default_factory=list)
    content_length: int | None = None


class BodyEnd(enum.Enum):
    """Type of the :data:`END` marker."""

    END = "END"


END: Final = BodyEnd.END
"""The request body is complete (CONTENT_LENGTH bytes, or the empty packet of a chunked body)."""

AJPEvent: TypeAlias = ForwardRequest | bytes | BodyEnd
"""What :meth:`AJPProtocol.feed` returns: a ForwardRequest, body pieces, then END."""


class _State(enum.Enum):
    IDLE = 0  # between requests: FORWARD_REQUEST or CPING may come
    BODY = 1  # the next packet is a body chunk
    RESPONDING = 2  # the whole request is in; only the response goes on


class _Cursor:
    """Reads the fields of one packet's payload; AJPError when a field runs past its end."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def need(self, size: int, what: str) -> None:
        if self.pos + size > len(self.data):
            raise AJPError(f"AJP packet ends inside the {what}")

    def u8(self, what: str) -> int:
        self.need(1, what)
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self, what: str) -> int:
        self.need(2, what)
        self.pos += 2
        return int(_U16.unpack_from(self.data, self.pos - 2)[0])

    def string(self, what: str) -> bytes | None:
        size = self.u16(what)
        if size == _NULL:
            return None
        self.need(size + 1, what)
        start = self.pos
        self.pos += size + 1
        if self.data[start + size] != 0:
            raise AJPError(f"AJP string ({what}) does not end with a NUL byte")
        return self.data[start : start + size]


def _header_name(cur: _Cursor) -> bytes:
    # ajpv13a: a name starting with byte 0xA0 is a code (0xA0 + index), else a string.
    if cur.pos < len(cur.data) and cur.data[cur.pos] == 0xA0:
        code = cur.u16("header name")
        name = REQUEST_HEADERS.get(code)
        if name is None:
            raise AJPError(f"unknown AJP request header code 0x{code:04X}")
        return name
    value = cur.string("header name")
    if not value:
        raise AJPError("AJP request header with an empty or null name")
    return value


def parse_forward_request(payload: bytes, max_headers: int) -> ForwardRequest:
    """Decode a FORWARD_REQUEST payload (type byte included); AJPError if malformed."""
    cur = _Cursor(payload)
    cur.u8("packet type")
    code = cur.u8("method")
    method = METHODS.get(code)
    if method is None and code != STORED_METHOD:
        raise AJPError(f"unknown AJP method code {code}")
    fields = [cur.string(what) or b"" for what in ("protocol", "uri", "remote addr", "host")]
    server_name = cur.string("server name") or b""
    server_port = cur.u16("server port")
    is_ssl = cur.u8("is_ssl") != 0
    count = cur.u16("header count")
    if count > max_headers:
        raise AJPError(f"AJP request with {count} headers, over the limit of {max_headers}")
    headers = []
    for _ in range(count):
        name = _header_name(cur)
        headers.append((name, cur.string("header value") or b""))
    request = ForwardRequest(
        method or "",
        fields[0],
        fields[1],
        fields[2],
        fields[3],
        server_name,
        server_port,
        is_ssl,
        headers,
    )
    _parse_attributes(cur, request)
    if not request.method:
        stored = request.attributes.get("stored_method", b"")
        if not stored or not stored.isalpha():
            raise AJPError(f"AJP stored method {stored[:32]!r} is missing or not a token")
        request.method = stored.decode("ascii").upper()
    if not request.uri.startswith(b"/") and request.uri != b"*":
        raise AJPError(f"AJP request URI {request.uri[:64]!r} does not start with '/'")
    request.content_length = _content_length(headers)
    return request


def _parse_attributes(cur: _Cursor, request: ForwardRequest) -> None:
    while True:
        code = cur.u8("attribute code")
        if code == ARE_DONE:
            break
        if code == REQ_ATTRIBUTE:
            name = cur.string("attribute name") or b""
            request.req_attributes.append((name, cur.string("attribute value") or b""))
        elif code == SSL_KEY_SIZE:
            request.attributes["ssl_key_size"] = str(cur.u16("ssl key size")).encode()
        elif code in ATTRIBUTES:
            request.attributes[ATTRIBUTES[code]] = cur.string(ATTRIBUTES[code]) or b""
        else:
            raise AJPError(f"unknown AJP attribute code 0x{code:02X}")
    if cur.pos != len(cur.data):
        raise AJPError(f"{len(cur.data) - cur.pos} bytes after the AJP request terminator")


def _content_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    values = {value for name, value in headers if name.lower() == b"content-length"}
    if not values:
        return None
    if len(values) > 1:  # RFC 9110 §8.6: differing lengths make the framing unknowable
        raise AJPError("AJP request with differing Content-Length headers")
    value = values.pop()
    if not value.isdigit() or len(value) > 18:  # 10**18 bytes is hostile, not a body
        raise AJPError(f"AJP Content-Length {value[:32]!r} is not a decimal number")
    return int(value)


def _string(value: bytes) -> bytes:
    return _U16.pack(len(value)) + value + b"\0"


def _packet(magic: bytes, payload: bytes) -> bytes:
    return _HEAD.pack(magic, len(payload)) + payload


class AJPProtocol:
    """One AJP connection's state: ``feed`` bytes, get events; encoders for the response.

    ``max_packet_size``: the largest packet either way (8192 by default; up to 65536, as httpd's
    ProxyIOBufferSize or mod_jk's max_packet_size, which must be the same on both sides).
    ``max_headers`` bounds a request's header count. After an AJPError, ``feed`` keeps raising it.
    """

    def __init__(self, *, max_packet_size: int = MIN_PACKET, max_headers: int = 200) -> None:
        if type(max_packet_size) is not int or not MIN_PACKET <= max_packet_size <= MAX_PACKET:
            raise ValueError(f"max_packet_size must be in 8192..65536, got {max_packet_size!r}")
        if type(max_headers) is not int or max_headers < 1:
            raise ValueError(f"max_headers must be an int >= 1, got {max_headers!r}")
        self.max_packet_size = max_packet_size
        self.max_headers = max_headers
        self.max_chunk = max_packet_size - 8  # "AB", length, type, chunk length, trailing NUL
        self._buf = bytearray()
        self._out: list[bytes] = []
        self._state = _State.IDLE
        self._remaining: int | None = None  # body bytes still to come; None: until empty packet
        self._error: AJPError | None = None
        self._get_chunk = _packet(
            _OUT_MAGIC, bytes([GET_BODY_CHUNK]) + _U16.pack(max_packet_size - 6)
        )

    @property
    def idle(self) -> bool:
        """No request is in progress (between requests, or before the first), nor part of one."""
        return self._state is _State.IDLE and not self._buf

    def data_to_send(self) -> bytes:
        """What the codec answers by itself: CPongs and GET_BODY_CHUNK requests, in order."""
        out, self._out = b"".join(self._out), []
        return out

    def feed(self, data: bytes | bytearray | memoryview) -> list[AJPEvent]:
        """Parse ``data``; return the events it completes, or raise :class:`AJPError`."""
        if self._error is not None:
            raise self._error
        try:
            return self._feed(data)
        except AJPError as err:
            self._error = err
            raise

    def _feed(self, data: bytes | bytearray | memoryview) -> list[AJPEvent]:
        buf = self._buf
        buf += data
        events: list[AJPEvent] = []
        pos = 0
        while len(buf) - pos >= 4:
            magic, size = _HEAD.unpack_from(buf, pos)
            if magic != _IN_MAGIC:
                hint = " (an HTTP request on the AJP port?)" if buf[pos : pos + 1].isalpha() else ""
                raise AJPError(
                    f"not an AJP13 packet: starts with {bytes(buf[pos : pos + 4])!r}{hint}"
                )
            if size > self.max_packet_size - 4:
                raise AJPError(
                    f"AJP packet of {size + 4} bytes over the limit of {self.max_packet_size}"
                    " (max_packet_size must match the web server's packet size)"
                )
            if len(buf) - pos - 4 < size:
                break
            self._packet(bytes(buf[pos + 4 : pos + 4 + size]), events)
            pos += 4 + size
        del buf[:pos]
        return events

    def _packet(self, payload: bytes, events: list[AJPEvent]) -> None:
        state = self._state
        if state is _State.BODY:
            self._body_packet(payload, events)
        elif state is _State.RESPONDING:
            raise AJPError("AJP packet received while the response is pending")
        elif not payload:
            raise AJPError("empty AJP packet where a request was expected")
        elif payload[0] == FORWARD_REQUEST:
            request = parse_forward_request(payload, self.max_headers)
            events.append(request)
            self._begin_body(request, events)
        elif payload[0] == CPING and len(payload) == 1:
            self._out.append(_packet(_OUT_MAGIC, bytes([CPONG])))
        elif payload[0] == SHUTDOWN:
            raise AJPError("AJP SHUTDOWN packet refused (the container is stopped by signals)")
        else:
            raise AJPError(f"unexpected AJP packet type {payload[0]} ({len(payload)} bytes)")

    def _begin_body(self, request: ForwardRequest, events: list[AJPEvent]) -> None:
        length = request.content_length
        chunked = any(name.lower() == b"transfer-encoding" for name, _ in request.headers)
        if length is None and chunked:
            # httpd sends no data for a chunked request until asked (mod_proxy_ajp.c).
            self._remaining = None
            self._state = _State.BODY
            self._out.append(self._get_chunk)
        elif length:
            self._remaining = length  # the first chunk comes unasked (ajpv13a "Request Body")
            self._state = _State.BODY
        else:
            self._state = _State.RESPONDING
            events.append(END)

    def _body_packet(self, payload: bytes, events: list[AJPEvent]) -> None:
        # A body packet: chunk length (2 bytes) and data; no type byte. Empty: the body ended.
        if len(payload) in (0, 2) and not any(payload):
            self._state = _State.RESPONDING
            events.append(END)  # short of Content-Length? the server compares and answers 400
            return
        if len(payload) < 2 or _U16.unpack_from(payload)[0] != len(payload) - 2:
            raise AJPError(f"AJP body packet of {len(payload)} bytes with a wrong chunk length")
        data = payload[2:]
        remaining = self._remaining
        if remaining is not None:
            if len(data) > remaining:
                raise AJPError(f"AJP body goes {len(data) - remaining} bytes past Content-Length")
            remaining = self._remaining = remaining - len(data)
        events.append(data)
        if remaining == 0:
            self._state = _State.RESPONDING
            events.append(END)
        else:
            self._out.append(self._get_chunk)

    # -- the response ---------------------------------------------------------------------------

    def send_headers(
        self, status: int, reason: bytes, headers: Iterable[tuple[bytes, bytes]]
    ) -> bytes:
        """A SEND_HEADERS packet; ValueError when it does not fit one packet."""
        parts = [bytes([SEND_HEADERS]), _U16.pack(status), _string(reason), b""]
        count = 0
        for name, value in headers:
            code = RESPONSE_HEADER_CODES.get(name.lower())
            parts.append(_string(name) if code is None else _U16.pack(code))
            parts.append(_string(value))
            count += 1
        parts[3] = _U16.pack(count)
        payload = b"".join(parts)
        if len(payload) + 4 > self.max_packet_size:
            raise ValueError(
                f"response headers of {len(payload) + 4} bytes do not fit one AJP packet"
                f" of {self.max_packet_size}"
            )
        return _packet(_OUT_MAGIC, payload)

    def body(self, data: bytes) -> list[bytes | memoryview]:
        """SEND_BODY_CHUNK packets for ``data``: at most ``max_chunk`` bytes each (8184 by
        default: httpd wants a NUL after each chunk, ajp_header.c ajp_parse_data)."""
        size = len(data)
        step = self.max_chunk
        if size <= step:
            return [_CHUNK_HEAD.pack(_OUT_MAGIC, size + 4, SEND_BODY_CHUNK, size), data, b"\0"]
        view = memoryview(data)
        pieces: list[bytes | memoryview] = []
        for start in range(0, size, step):
            piece = view[start : start + step]
            head = _CHUNK_HEAD.pack(_OUT_MAGIC, len(piece) + 4, SEND_BODY_CHUNK, len(piece))
            pieces += (b"\0" + head if pieces else head, piece)
        pieces.append(b"\0")
        return pieces

    def end_response(self, *, reuse: bool) -> bytes:
        """END_RESPONSE; with ``reuse`` the connection waits for the next request."""
        if not reuse:
            self._error = AJPError("the connection was not kept for reuse")
        self._state = _State.IDLE
        self._remaining = None
        return _packet(_OUT_MAGIC, bytes([END_RESPONSE, 1 if reuse else 0]))


# -- the web server's side, for tests and tools --------------------------------------------------


def encode_request(  # one field per argument, as on the wire
    method: str,
    uri: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    protocol: bytes = b"HTTP/1.1",
    remote_addr: bytes = b"127.0.0.1",
    remote_host: bytes = b"",
    server_name: bytes = b"localhost",
    server_port: int = 80,
    is_ssl: bool = False,
    attributes: Iterable[tuple[str, bytes]] = (),
    req_attributes: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """A FORWARD_REQUEST packet as a web server sends it (request header names coded)."""
    code = METHOD_CODES.get(method.upper(), STORED_METHOD)
    parts = [bytes([FORWARD_REQUEST, code])]
    parts += [_string(v) for v in (protocol, uri, remote_addr, remote_host, server_name)]
    parts += [_U16.pack(server_port), bytes([is_ssl])]
    pairs = list(headers)
    parts.append(_U16.pack(len(pairs)))
    for name, value in pairs:
        coded = REQUEST_HEADER_CODES.get(name.lower())
        parts += (_string(name) if coded is None else _U16.pack(coded), _string(value))
    extra = list(attributes)
    if code == STORED_METHOD:
        extra.append(("stored_method", method.encode("ascii")))
    for attribute, text in extra:
        if attribute == "ssl_key_size":
            parts += (bytes([SSL_KEY_SIZE]), _U16.pack(int(text)))
        else:
            parts += (bytes([ATTRIBUTE_CODES[attribute]]), _string(text))
    for name, value in req_attributes:
        parts += (bytes([REQ_ATTRIBUTE]), _string(name), _string(value))
    parts.append(bytes([ARE_DONE]))
    return _packet(_IN_MAGIC, b"".join(parts))


def encode_body(data: bytes, max_packet_size: int = MIN_PACKET) -> list[bytes]:
    """Body packets for ``data`` (each at most ``max_packet_size``); b"" gives the empty packet."""
    step = max_packet_size - 6
    if not data:
        return [_packet(_IN_MAGIC, b"")]
    return [
        _packet(_IN_MAGIC, _U16.pack(len(data[i : i + step])) + data[i : i + step])
        for i in range(0, len(data), step)
    ]
