"""The stateless rules of HTTP/1.1 request syntax (RFC 9110, RFC 9112), for :mod:`wsgikit._http11`.

Request line, header section, field line, chunk line, Transfer-Encoding, Host and target checks:
bytes in, parsed values out or :class:`ProtocolError`; no state. Also the values they take and
give, :class:`Limits` and :class:`RequestHead`, which :mod:`wsgikit._http11` re-exports. The
module is private; ``__all__`` names what the parser may use::

    parse_request_line(b"GET /a?b HTTP/1.1\r")   # ("GET", b"/a?b", b"/a", b"b", None, (1, 1))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, TypeAlias

from wsgikit._compiled import mypyc_attr

__all__ = [
    "DEFAULT_MAX_BODY",
    "HTTP_1_0",
    "HTTP_1_1",
    "Limits",
    "ProtocolError",
    "RequestHead",
    "RequestLine",
    "TOKEN",
    "bad_request",
    "check_field_line",
    "check_head",
    "is_chunked",
    "parse_chunk_size",
    "parse_request_line",
    "valid_host",
]


class ProtocolError(Exception):
    """The request cannot be served: answer ``status`` (400 413 414 417 431 501 505) and close."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail  # one line for the log

    def __str__(self) -> str:
        return f"{self.status} {self.detail}"


# The request body limit by default (413 past it): waitress's max_request_body_size. Bodies past
# memory spool to temporary files; a limit keeps one client from filling the disk.
DEFAULT_MAX_BODY = 1 << 30


# A plain class even when compiled (wsgikit._compiled): a compiled one would turn True into 1 and
# refuse 1.5 with its own TypeError before __post_init__ could say which limit is wrong.
@mypyc_attr(native_class=False)
@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits; each is inclusive (a request exactly at a limit is accepted).

    ``max_request_line``: bytes of the request line without its CRLF (414 when the target is
    what makes it long, else 400). ``max_header_size``: bytes of the header field lines with their
    CRLFs, without the request line and the final empty line (431); the trailer section has the
    same limit. ``max_headers``: header (and trailer) field lines (431). ``max_body_size``: body
    bytes, checked against Content-Length up front and against the sum of chunk sizes (413);
    1 GiB by default (:data:`DEFAULT_MAX_BODY`), None for no limit.
    """

    max_request_line: int = 8192
    max_header_size: int = 65536
    max_headers: int = 100
    max_body_size: int | None = DEFAULT_MAX_BODY

    def __post_init__(self) -> None:
        for name in ("max_request_line", "max_header_size", "max_headers"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"Limits.{name} must be an int >= 1, got {value!r}")
        # getattr, not .max_body_size: compiled (mypyc), that read would check the type itself
        body = getattr(self, "max_body_size")  # noqa: B009
        if body is not None and (type(body) is not int or body < 0):
            raise ValueError(f"Limits.max_body_size must be None or an int >= 0, got {body!r}")


class RequestHead:
    """A parsed request line and header section; plain attributes (see :mod:`wsgikit._http11`)."""

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


# -- character classes (bytes.translate(None, allowed) is empty iff all bytes are allowed) ---
_DIGITS = b"0123456789"
_ALPHA = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TCHAR: Final = b"!#$%&'*+-.^_`|~" + _DIGITS + _ALPHA  # RFC 9110 §5.6.2
_HEX: Final = b"0123456789abcdefABCDEF"
# field-vchar / SP / HTAB (RFC 9110 §5.5); obs-text (0x80-0xff) is allowed, CTLs and DEL are not.
_FIELD_CHARS: Final = bytes(range(0x20, 0x7F)) + b"\t" + bytes(range(0x80, 0x100))
# reg-name characters (RFC 3986 §3.2.2): unreserved, pct-encoded, sub-delims; no "@" (userinfo,
# RFC 9110 §4.2.4), "/", whitespace or controls. An IP-literal also has ":" between its brackets.
_REG_NAME: Final = _ALPHA + _DIGITS + b"-._~%!$&'()*+,;="

_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'  # RFC 9110 §5.6.4
#: RFC 9110 §5.6.2 ``token`` (1*tchar), the one spelling of it: header names, methods, media
#: types, chunk extensions and cookie names (RFC 6265 §4.1.1) are tokens. The engine and the
#: tooling compose it into their patterns; byte parsers use ``TOKEN.encode()``.
TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = TOKEN.encode()
# chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (RFC 9112 §7.1.1), and
# RFC 9110 §5.6.3 says a recipient MUST parse BWS. BWS is SP/HTAB only and never ends the list, so
# what decides framing stays strict: the line ends at CRLF, and a bare CR or LF, NUL, other
# controls, a missing name or trailing whitespace are refused (the chunk-ext smuggling vectors).
_BWS = rb"[ \t]*"
_CHUNK_EXT: Final = re.compile(
    rb"(?:%s;%s%s(?:%s=%s(?:%s|%s))?)+" % (_BWS, _BWS, _TOKEN_RE, _BWS, _BWS, _TOKEN_RE, _QUOTED)
)

# Methods llhttp recognises in requests, minus CONNECT (a WSGI server does not tunnel) and PRI (the
# HTTP/2 preface); any other well-formed method gets 501 (RFC 9110 §9.1).
_METHODS: Final = {
    m.encode(): m
    for m in (
        *("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "QUERY", "PURGE"),
        *("LINK", "UNLINK", "SOURCE", "COPY", "LOCK", "MKCOL", "MOVE", "PROPFIND", "PROPPATCH"),
        *("SEARCH", "UNLOCK", "BIND", "REBIND", "UNBIND", "ACL", "REPORT", "MKACTIVITY"),
        *("CHECKOUT", "MERGE", "MKCALENDAR", "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE"),
    )
}
# Compare versions with "==", never "is": compiled with mypyc a tuple[int, int] is unboxed and
# boxed again on the way out, so the same version is not always the same object.
HTTP_1_1: Final = (1, 1)
HTTP_1_0: Final = (1, 0)
_VERSIONS: Final = {
    b"HTTP/1.1\r": HTTP_1_1,
    b"HTTP/1.0\r": HTTP_1_0,
}  # the request line's end, CR included

# method, target, path, query, authority (absolute-form only), version
RequestLine: TypeAlias = tuple[str, bytes, bytes, bytes, bytes | None, tuple[int, int]]


def bad_request(detail: str) -> ProtocolError:
    """The error for a malformed request: 400 (RFC 9110 §15.5.1)."""
    return ProtocolError(400, detail)


def parse_request_line(line: bytes) -> RequestLine:
    """RFC 9112 §3: method SP request-target SP HTTP-version CRLF, one SP each."""
    parts = line.split(b" ")
    if len(parts) == 3:
        method_b, target, version_b = parts
        method = _METHODS.get(method_b)
        version = _VERSIONS.get(version_b)  # with the CR
        if method and version and target[:1] == b"/" and b"#" not in target:
            # The usual case: llhttp refuses target bytes outside 0x21-0x7E (also a bare
            # CR); "#" it would take (RFC 9112 §3.2: a fragment is never sent).
            path, _, query = target.partition(b"?")
            return method, target, path, query, None, version
    if line[-1:] != b"\r" or b"\r" in line[:-1]:  # RFC 9112 §2.2 allows a bare LF; not us
        raise bad_request("bare CR or LF in request line")
    if len(parts) != 3:
        raise bad_request("malformed request line")  # also HTTP/0.9 "GET /" and doubled spaces
    method_b, target, version_b = parts
    method = _METHODS.get(method_b)
    if method is None and (not method_b or method_b.translate(None, _TCHAR)):
        raise bad_request("method is not a token")  # RFC 9110 §9.1
    version = _VERSIONS.get(version_b)
    if version is None:
        v = version_b[:-1]  # RFC 9112 §2.3: "HTTP/" DIGIT "." DIGIT, case-sensitive
        if len(v) == 8 and v[:5] == b"HTTP/" and v[6:7] == b"." and (v[5:6] + v[7:]).isdigit():
            raise ProtocolError(505, f"HTTP version {v.decode()} not supported")
        raise bad_request("malformed HTTP version")
    if method is None:
        if method_b == b"CONNECT":
            raise ProtocolError(501, "CONNECT is not supported")
        raise ProtocolError(501, f"method {method_b.decode()} not implemented")
    return (method, target, *_split_target(method, target), version)


def parse_chunk_size(line: bytes) -> int:
    """RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF (the line without its LF); the size."""
    if line[-1:] != b"\r":
        raise bad_request("bare LF after chunk size")
    semi = line.find(b";")  # the first ";" starts chunk-ext: no ";" in chunk-size or BWS
    if semi < 0:
        digits = line[:-1]
    else:
        digits = line[:semi].rstrip(b" \t")
        if not _CHUNK_EXT.fullmatch(line, len(digits), len(line) - 1):
            raise bad_request("malformed chunk extension")
    # Plain hex only: no sign, "0x", spaces or "_" (int() would take those); 16 digits at most
    # so a size always fits in 64 bits (RFC 9112 §7.1 asks to guard against overflow).
    if not digits or len(digits) > 16 or digits.translate(None, _HEX):
        raise bad_request("invalid chunk size")
    return int(digits, 16)


def check_field_line(line: bytes) -> None:
    """Check a field line (without its LF) as RFC 9112 §5 wants it; raise ProtocolError."""
    if line[-1:] != b"\r" or b"\r" in line[:-1]:
        raise bad_request("bare CR or LF in trailer section")
    line = line[:-1]
    if line[:1] in (b" ", b"\t"):
        raise bad_request("obsolete line folding")  # RFC 9112 §5.2
    name, colon, value = line.partition(b":")
    if not colon or not name or name.translate(None, _TCHAR):
        raise bad_request("invalid trailer field name")  # RFC 9112 §5.1: no space before the colon
    if value.translate(None, _FIELD_CHARS):
        raise bad_request("invalid character in trailer field")


def is_chunked(te: bytes, version: tuple[int, int], cl: int | None) -> bool:
    """Transfer-Encoding (RFC 9112 §6.1, §6.3): only a final "chunked" frames a request body;
    codings before it are not implemented (501); anything else is a bad request (400)."""
    if version != HTTP_1_1:
        raise bad_request("Transfer-Encoding in an HTTP/1.0 request")
    if cl is not None:
        raise bad_request("both Content-Length and Transfer-Encoding")
    codings = [c.strip(b" \t").lower() for c in te.split(b",")]
    if codings[-1] != b"chunked":
        raise bad_request("Transfer-Encoding does not end with chunked")
    for coding in codings[:-1]:
        if coding == b"chunked":
            raise bad_request("chunked applied more than once")  # RFC 9112 §7
        if not coding or coding.translate(None, _TCHAR):
            raise bad_request("malformed Transfer-Encoding")
    if len(codings) > 1:
        raise ProtocolError(501, "transfer coding not implemented")
    return True


def valid_host(value: bytes) -> bool:
    """uri-host [":" port] (RFC 9110 §7.2, RFC 3986 §3.2): reg-name or [IP-literal], port digits."""
    if value[:1] == b"[":
        end = value.find(b"]") + 1
        host, port = value[:end], value[end:]
        good = end > 2 and not host[1:-1].translate(None, _REG_NAME + b":")
    else:
        host, colon, port = value.partition(b":")
        port = colon + port
        good = not host.translate(None, _REG_NAME)
    return good and (not port or (port[:1] == b":" and (len(port) == 1 or port[1:].isdigit())))


def _split_target(method: str, target: bytes) -> tuple[bytes, bytes, bytes | None]:
    """(path, query, authority) of a request-target (RFC 9112 §3.2); raises ProtocolError."""
    if b"#" in target:
        raise bad_request("fragment in request-target")
    if target[:1] == b"/":  # origin-form
        path, _, query = target.partition(b"?")
        return path, query, None
    if target == b"*":  # asterisk-form
        if method != "OPTIONS":
            raise bad_request("asterisk-form target is only for OPTIONS")
        return b"*", b"", None
    scheme = target[:8].lower()
    if scheme.startswith(b"http://"):
        rest = target[7:]
    elif scheme == b"https://":
        rest = target[8:]
    else:  # authority-form is only for CONNECT (RFC 9112 §3.2.3), refused above
        raise bad_request("request-target is not origin-form or absolute-form")
    cut = min(i for i in (rest.find(b"/"), rest.find(b"?"), len(rest)) if i >= 0)
    authority = rest[:cut]
    if not authority or not valid_host(authority):
        raise bad_request("invalid authority in request-target")  # RFC 9110 §4.2.1, §4.2.4
    path, _, query = rest[cut:].partition(b"?")
    return path or b"/", query, authority


_HOST, _CL, _TE, _CONN, _EXPECT, _CT = range(6)
_SPECIAL: Final = {
    b"host": _HOST,
    b"content-length": _CL,
    b"transfer-encoding": _TE,
    b"connection": _CONN,
    b"expect": _EXPECT,
    b"content-type": _CT,
}


def check_head(
    line: RequestLine, headers: list[tuple[bytes, bytes]], limits: Limits, known_host: bytes
) -> RequestHead:
    """Header-section rules llhttp leaves to us; the head with its framing attributes.

    ``known_host`` is a Host value already found valid: clients repeat the same one.
    """
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
            if value != known_host and not valid_host(value):
                raise bad_request("invalid Host")
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
    method, target, path, query, netloc, version = line  # netloc: the authority
    if host is None and version == HTTP_1_1:
        raise bad_request("missing Host")  # RFC 9112 §3.2
    chunked = False
    if te is not None:
        chunked = is_chunked(te, version, cl)
    max_body = limits.max_body_size
    if cl is not None and max_body is not None and cl > max_body:
        raise ProtocolError(413, "body larger than allowed")
    if bad_expect:
        raise ProtocolError(417, "unsupported expectation")  # RFC 9110 §10.1.1
    alive = not close and (keep or version == HTTP_1_1)
    expect = expect and version == HTTP_1_1  # RFC 9110 §10.1.1: ignored in HTTP/1.0
    return RequestHead(
        method, target, path, query, netloc, version, headers, host, cl, chunked, alive, expect
    )
