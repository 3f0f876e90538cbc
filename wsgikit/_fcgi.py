"""Sans-I/O FastCGI 1.0 codec: records, name-value pairs, and the per-connection state machine.

Use it from a FastCGI server: feed the bytes read from the web server, act on the events, send what
:meth:`FastCGIProtocol.data_to_send` and the ``respond``/``end_request`` helpers return.
Protocol violations raise :class:`FastCGIError` (drop the connection, log ``str(err)``); misuse of
the encoding API (ids out of range, oversized content) raises :class:`ValueError`. No sockets::

    conn = FastCGIProtocol(max_requests=16)
    for event in conn.feed(data):
        if isinstance(event, Request):
            out = conn.respond(event.request_id, b"Status: 200 OK\\r\\n\\r\\nhi")
            out.append(conn.end_request(event.request_id))
            conn.request_done(event.request_id)
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

# Values from the FastCGI Specification 1.0 (Open Market, 1996), section 8 "Types and Constants".
FCGI_LISTENSOCK_FILENO: Final = 0
FCGI_HEADER_LEN: Final = 8
FCGI_VERSION_1: Final = 1
FCGI_BEGIN_REQUEST: Final = 1
FCGI_ABORT_REQUEST: Final = 2
FCGI_END_REQUEST: Final = 3
FCGI_PARAMS: Final = 4
FCGI_STDIN: Final = 5
FCGI_STDOUT: Final = 6
FCGI_STDERR: Final = 7
FCGI_DATA: Final = 8
FCGI_GET_VALUES: Final = 9
FCGI_GET_VALUES_RESULT: Final = 10
FCGI_UNKNOWN_TYPE: Final = 11
FCGI_MAXTYPE: Final = FCGI_UNKNOWN_TYPE
FCGI_NULL_REQUEST_ID: Final = 0
FCGI_KEEP_CONN: Final = 1
FCGI_RESPONDER: Final = 1
FCGI_AUTHORIZER: Final = 2
FCGI_FILTER: Final = 3
FCGI_REQUEST_COMPLETE: Final = 0
FCGI_CANT_MPX_CONN: Final = 1
FCGI_OVERLOADED: Final = 2
FCGI_UNKNOWN_ROLE: Final = 3
FCGI_MAX_CONNS: Final = b"FCGI_MAX_CONNS"
FCGI_MAX_REQS: Final = b"FCGI_MAX_REQS"
FCGI_MPXS_CONNS: Final = b"FCGI_MPXS_CONNS"

MAX_CONTENT: Final = 0xFFFF  # contentLength is two bytes (spec §3.3)
_SMALL: Final = 8192  # below this, one copied piece beats a gather-write of three
_HEADER = struct.Struct("!BBHHBx")  # version, type, requestId, contentLength, paddingLength
_BEGIN_BODY = struct.Struct("!HB5x")  # FCGI_BeginRequestBody (spec §5.1)
_END_BODY = struct.Struct("!LB3x")  # FCGI_EndRequestBody (spec §5.5)
_UNKNOWN_BODY = struct.Struct("!B7x")  # FCGI_UnknownTypeBody (spec §4.2)
_U32 = struct.Struct("!L")
_PAD = tuple(bytes(n) for n in range(8))
# Types only the application sends; receiving one means the peer is not a web server.
_OUTBOUND = frozenset({FCGI_END_REQUEST, FCGI_STDOUT, FCGI_STDERR})
_OUTBOUND_MGMT = frozenset({FCGI_GET_VALUES_RESULT, FCGI_UNKNOWN_TYPE})

Chunks: TypeAlias = list[bytes | memoryview]
"""Pieces to send in order: header/padding ``bytes`` and zero-copy ``memoryview`` slices of the
caller's data, ready for ``socket.sendmsg`` (send at most ``SC_IOV_MAX`` pieces per call)."""


class FastCGIError(Exception):
    """The peer broke the FastCGI protocol; the connection cannot continue and must be closed."""


@dataclass(slots=True)
class Request:
    """BEGIN_REQUEST (RESPONDER role) and the whole PARAMS stream arrived: run the application."""

    request_id: int
    keep_conn: bool
    params: list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Stdin:
    """One non-empty FCGI_STDIN record: a piece of the request body."""

    request_id: int
    data: bytes


@dataclass(slots=True)
class StdinEnd:
    """The empty FCGI_STDIN record: the request body is complete."""

    request_id: int


@dataclass(slots=True)
class Abort:
    """FCGI_ABORT_REQUEST: the client went away; end the request soon (spec §5.4)."""

    request_id: int


Event: TypeAlias = Request | Stdin | StdinEnd | Abort


def _check_id(request_id: int, *, allow_null: bool = True) -> None:
    low = 0 if allow_null else 1
    if not low <= request_id <= 0xFFFF:
        raise ValueError(f"FastCGI request id must be in {low}..65535, got {request_id}")


def encode_record(rtype: int, request_id: int, content: bytes = b"") -> bytes:
    """One record: header, ``content`` (<= 65535 bytes), padding to a multiple of 8 (spec §3.3)."""
    if not 0 <= rtype <= 0xFF:
        raise ValueError(f"FastCGI record type must be in 0..255, got {rtype}")
    _check_id(request_id)
    size = len(content)
    if size > MAX_CONTENT:
        raise ValueError(f"FastCGI record content is limited to 65535 bytes, got {size}")
    pad = -size % 8
    return _HEADER.pack(FCGI_VERSION_1, rtype, request_id, size, pad) + bytes(content) + _PAD[pad]


def encode_end_of_stream(rtype: int, request_id: int) -> bytes:
    """The empty record that ends a stream of type ``rtype`` (spec §3.3 "stream records")."""
    return encode_record(rtype, request_id)


def encode_stream(rtype: int, request_id: int, data: bytes | bytearray | memoryview) -> Chunks:
    """Split ``data`` into records of at most 65535 content bytes, each padded to a multiple of 8.

    Returns :data:`Chunks`: small data comes back as one ``bytes``; larger data as header/padding
    ``bytes`` alternating with ``memoryview`` slices of ``data`` (no copy), so keep ``data``
    unchanged until sent. Empty ``data`` gives ``[]``: an empty record would end the stream, use
    :func:`encode_end_of_stream` for that. ``data`` must be a contiguous bytes-like object.
    """
    _check_id(request_id)
    view = memoryview(data).cast("B")
    size = len(view)
    if size == 0:
        return []
    if size <= _SMALL:
        return [encode_record(rtype, request_id, bytes(view))]
    pieces: Chunks = []
    lead = b""
    for start in range(0, size, MAX_CONTENT):
        piece = view[start : start + MAX_CONTENT]
        pad = -len(piece) % 8
        pieces.append(lead + _HEADER.pack(FCGI_VERSION_1, rtype, request_id, len(piece), pad))
        pieces.append(piece)
        lead = _PAD[pad]
    if lead:
        pieces.append(lead)
    return pieces


def _encode_length(size: int) -> bytes:
    # Spec §3.4: lengths up to 127 take one byte, longer ones four with the high bit set.
    if size < 0x80:
        return bytes((size,))
    if size > 0x7FFFFFFF:
        raise ValueError(f"FastCGI name/value length is limited to 2**31 - 1, got {size}")
    return _U32.pack(size | 0x80000000)


def encode_params(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Encode name-value pairs (spec §3.4), choosing the 1- or 4-byte length form for each."""
    out: list[bytes] = []
    for name, value in pairs:
        out += (_encode_length(len(name)), _encode_length(len(value)), name, value)
    return b"".join(out)


def encode_end_request(request_id: int, app_status: int, protocol_status: int) -> bytes:
    """FCGI_END_REQUEST with ``appStatus`` (0..2**32-1) and ``protocolStatus`` (spec §5.5)."""
    if not 0 <= app_status <= 0xFFFFFFFF:
        raise ValueError(f"FastCGI appStatus must be in 0..2**32-1, got {app_status}")
    if not 0 <= protocol_status <= 0xFF:
        raise ValueError(f"FastCGI protocolStatus must be in 0..255, got {protocol_status}")
    _check_id(request_id, allow_null=False)
    return encode_record(FCGI_END_REQUEST, request_id, _END_BODY.pack(app_status, protocol_status))


def encode_unknown_type(rtype: int) -> bytes:
    """The answer to a management record of a type we do not understand (spec §4.2)."""
    if not 0 <= rtype <= 0xFF:
        raise ValueError(f"FastCGI record type must be in 0..255, got {rtype}")
    return encode_record(FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, _UNKNOWN_BODY.pack(rtype))


def encode_get_values_result(values: Mapping[bytes, bytes]) -> bytes:
    """FCGI_GET_VALUES_RESULT carrying ``values`` (spec §4.1); must fit in one record."""
    return encode_record(
        FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID, encode_params(values.items())
    )


def _read_length(buf: bytes, pos: int, what: str, max_size: int) -> tuple[int, int]:
    # Spec §3.4: a high bit of 0 means a 1-byte length, 1 a 4-byte length (31 bits).
    if pos >= len(buf):
        raise FastCGIError(f"name-value pair truncated before the {what} length")
    size = buf[pos]
    if not size & 0x80:
        return size, pos + 1
    if pos + 4 > len(buf):
        raise FastCGIError(f"name-value pair truncated inside the 4-byte {what} length")
    size = _U32.unpack_from(buf, pos)[0] & 0x7FFFFFFF
    if size > max_size:
        raise FastCGIError(f"{what} length {size} exceeds the limit of {max_size}")
    return size, pos + 4


def decode_params(
    data: bytes | bytearray | memoryview, *, max_pairs: int, max_size: int
) -> list[tuple[bytes, bytes]]:
    """Decode a complete name-value pair block (spec §3.4) into ``(name, value)`` pairs in order.

    Raises :class:`FastCGIError` if the block is over ``max_size`` bytes, holds more than
    ``max_pairs`` pairs, has a length past ``max_size`` or past the end of the data, a truncated
    pair, or an empty name. Duplicate names are kept: the gateway decides which one wins.
    """
    buf = bytes(data)
    end = len(buf)
    if end > max_size:
        raise FastCGIError(f"name-value block of {end} bytes exceeds the limit of {max_size}")
    pairs: list[tuple[bytes, bytes]] = []
    pos = 0
    while pos < end:
        if len(pairs) >= max_pairs:
            raise FastCGIError(f"more than {max_pairs} name-value pairs")
        if pos + 1 < end and not (buf[pos] | buf[pos + 1]) & 0x80:
            name_len, value_len = buf[pos], buf[pos + 1]  # both 1-byte forms: the common case
            pos += 2
        else:
            name_len, pos = _read_length(buf, pos, "name", max_size)
            value_len, pos = _read_length(buf, pos, "value", max_size)
        stop = pos + name_len + value_len
        if stop > end:
            raise FastCGIError(f"name-value lengths run {stop - end} bytes past the data")
        if name_len == 0:
            raise FastCGIError("name-value pair with an empty name")
        pairs.append((buf[pos : pos + name_len], buf[pos + name_len : stop]))
        pos = stop
    return pairs


class _Req:
    """State of one active request id on a connection."""

    __slots__ = ("aborted", "chunks", "keep_conn", "size", "stage")

    def __init__(self, keep_conn: bool) -> None:
        self.keep_conn = keep_conn
        self.stage = 0  # 0: reading PARAMS, 1: reading STDIN, 2: STDIN ended
        self.chunks: list[bytes] = []
        self.size = 0
        self.aborted = False


class FastCGIProtocol:
    """The application side of one FastCGI transport connection (spec §3-§6, RESPONDER role only).

    ``feed()`` parses records and returns events; management records and requests it must refuse
    are answered through ``data_to_send()``. The server calls ``request_done()`` once it has sent
    the END_REQUEST made by ``end_request()``; then ``should_close`` says whether a request without
    FCGI_KEEP_CONN ended, so the connection must close (spec §5.1). Memory stays bounded: one
    partial record, and one PARAMS stream per active id, are buffered at most; a server should
    pause reading while it has output to flush, so a peer cannot pile up management answers.
    """

    def __init__(
        self,
        *,
        max_requests: int = 64,
        max_params_size: int = 1 << 20,
        max_params: int = 1000,
        multiplex: bool = True,
        values: Mapping[bytes, bytes] | None = None,
    ) -> None:
        if max_requests < 1 or max_params_size < 0 or max_params < 0:
            raise ValueError("max_requests must be >= 1, max_params_size and max_params >= 0")
        self._max_requests = max_requests
        self._max_params_size = max_params_size
        self._max_params = max_params
        self._multiplex = multiplex
        # GET_VALUES answers reflect the real limits (spec §4.1); the server adds FCGI_MAX_CONNS
        # and may state an application-wide FCGI_MAX_REQS.
        mpxs = b"1" if multiplex else b"0"
        self._values: dict[bytes, bytes] = {
            FCGI_MAX_REQS: str(max_requests if multiplex else 1).encode(),
            FCGI_MPXS_CONNS: mpxs,
        }
        for name, value in (values or {}).items():
            if not isinstance(name, bytes) or not isinstance(value, bytes):
                raise ValueError("FastCGI values must map bytes to bytes")
            if name == FCGI_MPXS_CONNS and value != mpxs:
                raise ValueError(f"FCGI_MPXS_CONNS={value!r} contradicts multiplex={multiplex}")
            self._values[name] = value
        encode_get_values_result(self._values)  # fail now, not on the first query
        self._requests: dict[int, _Req] = {}
        self._stderr_open: set[int] = set()
        self._buf = bytearray()
        self._out = bytearray()
        self._error: FastCGIError | None = None
        self._close = False

    @property
    def active_requests(self) -> int:
        """Request ids currently active (BEGIN_REQUEST seen, ``request_done()`` not yet called)."""
        return len(self._requests)

    @property
    def should_close(self) -> bool:
        """True once a request without FCGI_KEEP_CONN ended: close after flushing (spec §5.1)."""
        return self._close

    def data_to_send(self) -> bytes:
        """Bytes the codec produced itself (management answers, refusals); empties the outbox."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Parse ``data``; return the events of all complete records, or raise FastCGIError."""
        if self._error is not None:
            raise self._error
        events: list[Event] = []
        if self._buf:
            self._buf += data
            buf: bytes | bytearray | memoryview = self._buf
        else:
            buf = data
        pos = 0
        try:
            with memoryview(buf) as raw, raw.cast("B") as view:
                size = len(view)
                while size - pos >= FCGI_HEADER_LEN:
                    version, rtype, rid, clen, plen = _HEADER.unpack_from(view, pos)
                    if version != FCGI_VERSION_1:
                        raise FastCGIError(f"unsupported FastCGI version {version} (expected 1)")
                    start = pos + FCGI_HEADER_LEN
                    if size < start + clen + plen:
                        break
                    pos = start + clen + plen  # padding is skipped (spec §3.3 "Padding")
                    self._record(rtype, rid, bytes(view[start : start + clen]), events)
                if buf is not self._buf and pos < size:
                    self._buf = bytearray(view[pos:])  # at most one partial record is kept
        except FastCGIError as err:
            self._error = err
            raise
        if buf is self._buf:
            del self._buf[:pos]  # after the views are released: a bytearray cannot resize under one
        return events

    def feed_eof(self) -> None:
        """The web server closed the connection: raise :class:`FastCGIError` if a record was cut."""
        if self._error is not None:
            raise self._error
        if self._buf:
            self._error = FastCGIError(
                f"connection closed inside a record ({len(self._buf)} bytes)"
            )
            raise self._error

    def request_done(self, request_id: int) -> None:
        """The END_REQUEST for ``request_id`` was sent: the id is inactive again (spec §3.3)."""
        req = self._requests.pop(request_id, None)
        if req is None:
            raise ValueError(f"FastCGI request {request_id} is not active")
        self._stderr_open.discard(request_id)
        if not req.keep_conn:
            self._close = True

    def respond(self, request_id: int, data: bytes | bytearray | memoryview) -> Chunks:
        """FCGI_STDOUT records carrying ``data`` (see :func:`encode_stream`)."""
        _check_id(request_id, allow_null=False)
        return encode_stream(FCGI_STDOUT, request_id, data)

    def stderr(self, request_id: int, data: bytes | bytearray | memoryview) -> Chunks:
        """FCGI_STDERR records carrying ``data``; ``end_request`` then closes that stream too."""
        _check_id(request_id, allow_null=False)
        chunks = encode_stream(FCGI_STDERR, request_id, data)
        if chunks:
            self._stderr_open.add(request_id)
        return chunks

    def end_request(self, request_id: int, app_status: int = 0) -> bytes:
        """Empty STDOUT (and STDERR if used), then END_REQUEST (spec §5.5, §6.2)."""
        end = encode_end_request(request_id, app_status, FCGI_REQUEST_COMPLETE)
        head = encode_end_of_stream(FCGI_STDOUT, request_id)
        if request_id in self._stderr_open:
            head += encode_end_of_stream(FCGI_STDERR, request_id)
        return head + end

    # -- record dispatch -------------------------------------------------------------------------

    def _record(self, rtype: int, rid: int, content: bytes, events: list[Event]) -> None:
        if rid == FCGI_NULL_REQUEST_ID:
            self._management(rtype, content)
            return
        if rtype == FCGI_BEGIN_REQUEST:
            self._begin(rid, content)
            return
        if rtype == FCGI_GET_VALUES:
            raise FastCGIError(f"management record FCGI_GET_VALUES with request id {rid} (not 0)")
        if rtype in _OUTBOUND or rtype in _OUTBOUND_MGMT:
            raise FastCGIError(f"record type {rtype} is sent by applications, not web servers")
        if rtype not in (FCGI_ABORT_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_DATA):
            raise FastCGIError(f"unknown FastCGI record type {rtype} for request {rid}")
        if rtype == FCGI_ABORT_REQUEST and content:
            raise FastCGIError(f"FCGI_ABORT_REQUEST for request {rid} carries {len(content)} bytes")
        req = self._requests.get(rid)
        if req is None:
            # Spec §3.3 "Managing Request IDs": records for an inactive id are ignored. This is
            # also what keeps refused requests (whose PARAMS/STDIN still follow) and requests
            # ended before their body was read from breaking the connection.
            return
        if req.aborted:
            raise FastCGIError(f"record type {rtype} for request {rid} after FCGI_ABORT_REQUEST")
        if rtype == FCGI_PARAMS:
            self._params(rid, req, content, events)
        elif rtype == FCGI_STDIN:
            if req.stage == 0:
                raise FastCGIError(f"FCGI_STDIN for request {rid} before FCGI_PARAMS ended")
            if req.stage == 2:
                raise FastCGIError(f"FCGI_STDIN for request {rid} after its empty STDIN record")
            if content:
                events.append(Stdin(rid, content))
            else:
                req.stage = 2
                events.append(StdinEnd(rid))
        elif rtype == FCGI_ABORT_REQUEST:
            if req.stage == 0:
                # The application never saw this request, so the library answers (spec §5.4).
                self._library_end(rid, req.keep_conn, FCGI_REQUEST_COMPLETE)
                del self._requests[rid]
            else:
                req.aborted = True
                events.append(Abort(rid))
        else:
            raise FastCGIError(f"FCGI_DATA for RESPONDER request {rid} (spec §6.2: no data stream)")

    def _params(self, rid: int, req: _Req, content: bytes, events: list[Event]) -> None:
        if req.stage != 0:
            raise FastCGIError(f"FCGI_PARAMS for request {rid} after its params stream ended")
        if content:
            req.size += len(content)
            if req.size > self._max_params_size:
                raise FastCGIError(
                    f"FCGI_PARAMS for request {rid} exceed {self._max_params_size} bytes"
                )
            req.chunks.append(content)
            return
        block = b"".join(req.chunks)
        req.chunks = []
        req.stage = 1
        params = decode_params(block, max_pairs=self._max_params, max_size=self._max_params_size)
        events.append(Request(rid, req.keep_conn, params))

    def _begin(self, rid: int, content: bytes) -> None:
        if len(content) != _BEGIN_BODY.size:
            raise FastCGIError(f"FCGI_BEGIN_REQUEST body is {len(content)} bytes, expected 8")
        if rid in self._requests:
            raise FastCGIError(f"FCGI_BEGIN_REQUEST for request {rid}, which is already active")
        role, flags = _BEGIN_BODY.unpack(content)
        keep_conn = bool(flags & FCGI_KEEP_CONN)  # other flag bits are reserved (spec §5.1)
        # Refusals, spec §5.5: the id never becomes active, so what follows for it is ignored.
        if role != FCGI_RESPONDER:
            self._library_end(rid, keep_conn, FCGI_UNKNOWN_ROLE)
        elif self._requests and not self._multiplex:
            self._library_end(rid, keep_conn, FCGI_CANT_MPX_CONN)
        elif len(self._requests) >= self._max_requests:
            self._library_end(rid, keep_conn, FCGI_OVERLOADED)
        else:
            self._requests[rid] = _Req(keep_conn)

    def _library_end(self, rid: int, keep_conn: bool, protocol_status: int) -> None:
        self._out += encode_end_request(rid, 0, protocol_status)
        if not keep_conn:
            self._close = True

    def _management(self, rtype: int, content: bytes) -> None:
        if FCGI_BEGIN_REQUEST <= rtype <= FCGI_DATA:
            raise FastCGIError(f"application record type {rtype} with the null request id 0")
        if rtype in _OUTBOUND_MGMT:
            raise FastCGIError(f"record type {rtype} is sent by applications, not web servers")
        if rtype != FCGI_GET_VALUES:
            self._out += encode_unknown_type(rtype)  # spec §4.2
            return
        # Spec §4.1: the query holds names with empty values; answer only the names we know.
        query = decode_params(content, max_pairs=MAX_CONTENT, max_size=MAX_CONTENT)
        answer: dict[bytes, bytes] = {}
        for name, value in query:
            if value:
                raise FastCGIError(f"FCGI_GET_VALUES name {name[:40]!r} has a non-empty value")
            if name in self._values:
                answer[name] = self._values[name]
        self._out += encode_get_values_result(answer)
