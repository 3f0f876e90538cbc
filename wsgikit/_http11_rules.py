"""The stateless rules of HTTP/1.1 request syntax (RFC 9110, RFC 9112), for :mod:`wsgikit._http11`.

Request line, field line, chunk line, Transfer-Encoding, Host and target checks: bytes in, parsed
values out or :class:`ProtocolError`; no state. The module is private; ``__all__`` is what
:mod:`wsgikit._http11` uses::

    parse_request_line(b"GET /a?b HTTP/1.1\r")   # ("GET", b"/a?b", b"/a", b"b", None, (1, 1))
"""

from __future__ import annotations

import re
from typing import Final, TypeAlias

__all__ = [
    "HTTP_1_0",
    "HTTP_1_1",
    "ProtocolError",
    "RequestLine",
    "bad_request",
    "check_field_line",
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
_TOKEN_RE = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
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
# A parsed version is always one of these two objects, so callers may compare with "is".
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
    if version is not HTTP_1_1:
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
