"""HTTP/1.1 request vectors as data: (id, raw bytes, expected outcome), for wsgikit._http11.

tests/test_http11.py feeds every vector whole, byte by byte, split at every offset and followed by
more data; server tests can replay the same bytes over a real socket and check the status. All
vectors assume the default :class:`wsgikit._http11.Limits`. An :class:`Outcome` lists the requests
that must parse completely, in order, and the status of the error that must follow them, if any.
``at_eof`` marks inputs that stop in the middle of a request: their error comes from ``feed_eof``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Req:
    """A parsed request: its head's attributes, selected headers (in order) and the whole body.

    ``path`` and ``query`` default to the target split at the first "?"; ``headers`` must appear in
    ``head.headers`` (exact names and values) in this relative order.
    """

    method: str = "GET"
    target: bytes = b"/"
    version: tuple[int, int] = (1, 1)
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    content_length: int | None = None
    chunked: bool = False
    keep_alive: bool = True
    expect_continue: bool = False
    host: bytes | None = b"a"
    path: bytes | None = None
    query: bytes | None = None
    authority: bytes | None = None


@dataclass(frozen=True)
class Outcome:
    requests: tuple[Req, ...]
    error: int | None = None
    at_eof: bool = False


def ok(*requests: Req) -> Outcome:
    return Outcome(requests)


def err(status: int, *before: Req, at_eof: bool = False) -> Outcome:
    return Outcome(before, status, at_eof)


Vector = tuple[str, bytes, Outcome]

H = b"Host: a\r\n"
GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
POST = b"POST / HTTP/1.1\r\nHost: a\r\n"
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"
R = Req()
CLOSE = Req(keep_alive=False)


def chunked(body: bytes, **kw: object) -> Req:
    return Req("POST", chunked=True, body=body, **kw)  # type: ignore[arg-type]


def chunk_line(rest: bytes) -> bytes:
    """A chunked POST whose first chunk is "abc" with ``rest`` after its size "3", before CRLF."""
    return CHUNKED + b"3" + rest + b"\r\nabc\r\n0\r\n\r\n"


def with_body(body: bytes) -> bytes:
    return POST + b"Content-Length: %d\r\n\r\n" % len(body) + body


def posted(body: bytes, **kw: object) -> Req:
    return Req("POST", content_length=len(body), body=body, **kw)  # type: ignore[arg-type]


LONG_TARGET = b"/" + b"a" * 8178  # request line "GET <target> HTTP/1.1" is exactly 8192 bytes
MANY_HEADERS = b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(99))  # + Host = 100 fields

VALID: list[Vector] = [
    # -- request lines and targets
    ("get", GET, ok(R)),
    ("get-query", b"GET /p/q?x=1&y HTTP/1.1\r\n" + H + b"\r\n", ok(Req(target=b"/p/q?x=1&y"))),
    ("get-empty-query", b"GET /p? HTTP/1.1\r\n" + H + b"\r\n", ok(Req(target=b"/p?", query=b""))),
    ("get-query-with-?", b"GET /p?a?b HTTP/1.1\r\n" + H + b"\r\n", ok(Req(target=b"/p?a?b"))),
    ("get-percent", b"GET /a%20b%zz HTTP/1.1\r\n" + H + b"\r\n", ok(Req(target=b"/a%20b%zz"))),
    (
        "get-odd-printable",
        b"GET /{}|^`[]\\ HTTP/1.1\r\n" + H + b"\r\n",
        ok(Req(target=b"/{}|^`[]\\")),
    ),
    ("get-double-slash", b"GET //x HTTP/1.1\r\n" + H + b"\r\n", ok(Req(target=b"//x"))),
    ("head", b"HEAD /x HTTP/1.1\r\n" + H + b"\r\n", ok(Req("HEAD", b"/x"))),
    ("delete", b"DELETE /x HTTP/1.1\r\n" + H + b"\r\n", ok(Req("DELETE", b"/x"))),
    (
        "patch",
        b"PATCH /x HTTP/1.1\r\n" + H + b"Content-Length: 1\r\n\r\nz",
        ok(Req("PATCH", b"/x", content_length=1, body=b"z")),
    ),
    ("purge", b"PURGE /x HTTP/1.1\r\n" + H + b"\r\n", ok(Req("PURGE", b"/x"))),
    ("m-search", b"M-SEARCH /x HTTP/1.1\r\n" + H + b"\r\n", ok(Req("M-SEARCH", b"/x"))),
    (
        "options-star",
        b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n",
        ok(Req("OPTIONS", b"*", path=b"*", query=b"")),
    ),
    (
        "absolute-form",
        b"GET http://ex.org/p?q HTTP/1.1\r\n" + H + b"\r\n",
        ok(Req(target=b"http://ex.org/p?q", path=b"/p", query=b"q", authority=b"ex.org")),
    ),
    (
        "absolute-https-port",
        b"GET https://ex.org:8443/ HTTP/1.1\r\n" + H + b"\r\n",
        ok(Req(target=b"https://ex.org:8443/", path=b"/", query=b"", authority=b"ex.org:8443")),
    ),
    (
        "absolute-no-path",
        b"GET http://ex.org HTTP/1.1\r\n" + H + b"\r\n",
        ok(Req(target=b"http://ex.org", path=b"/", query=b"", authority=b"ex.org")),
    ),
    (
        "absolute-query-no-path",
        b"GET http://ex.org?x HTTP/1.1\r\n" + H + b"\r\n",
        ok(Req(target=b"http://ex.org?x", path=b"/", query=b"x", authority=b"ex.org")),
    ),
    (
        "absolute-ipv6",
        b"GET http://[::1]:80/ HTTP/1.1\r\n" + H + b"\r\n",
        ok(Req(target=b"http://[::1]:80/", path=b"/", query=b"", authority=b"[::1]:80")),
    ),
    (
        "long-request-line",
        b"GET " + LONG_TARGET + b" HTTP/1.1\r\n" + H + b"\r\n",
        ok(Req(target=LONG_TARGET)),
    ),
    ("leading-crlf", b"\r\n" + GET, ok(R)),
    ("leading-crlfs", b"\r\n\r\n\r\n" + GET, ok(R)),
    # -- header fields
    ("host-lowercase-name", b"GET / HTTP/1.1\r\nhost: a\r\n\r\n", ok(R)),
    ("host-empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", ok(Req(host=b""))),
    ("host-port", b"GET / HTTP/1.1\r\nHost: a.b:8080\r\n\r\n", ok(Req(host=b"a.b:8080"))),
    ("host-empty-port", b"GET / HTTP/1.1\r\nHost: a.b:\r\n\r\n", ok(Req(host=b"a.b:"))),
    ("host-ipv6", b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", ok(Req(host=b"[::1]:8080"))),
    (
        "ows-stripped",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: \t v w \t\r\n\r\n",
        ok(Req(headers=((b"X", b"v w"),))),
    ),
    (
        "empty-value",
        b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\nY: \r\n\r\n",
        ok(Req(headers=((b"X", b""), (b"Y", b"")))),
    ),
    (
        "obs-text-value",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: \x80caf\xe9\xff\r\n\r\n",
        ok(Req(headers=((b"X", b"\x80caf\xe9\xff"),))),
    ),
    (
        "names-as-sent",
        b"GET / HTTP/1.1\r\nHost: a\r\nx-LOWER-upper: 1\r\n\r\n",
        ok(Req(headers=((b"x-LOWER-upper", b"1"),))),
    ),
    # A name with "_" is a valid token: kept here, dropped by the gateway (smuggled HTTP_ vars).
    (
        "underscore-name",
        b"GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 1\r\n\r\n",
        ok(Req(headers=((b"X_Forwarded_For", b"1"),))),
    ),
    (
        "content-type",
        POST + b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\n\r\n",
        ok(posted(b"", headers=((b"Content-Type", b"text/plain; charset=utf-8"),))),
    ),
    (
        "repeated-other-header",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nX: 2\r\n\r\n",
        ok(Req(headers=((b"X", b"1"), (b"X", b"2")))),
    ),
    (
        "hundred-headers",
        b"GET / HTTP/1.1\r\nHost: a\r\n" + MANY_HEADERS + b"\r\n",
        ok(Req(headers=((b"X-H98", b"98"),))),
    ),
    (
        "expect-100",
        POST + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
        ok(posted(b"hi", expect_continue=True)),
    ),
    (
        "expect-100-case",
        POST + b"Expect: 100-Continue\r\nContent-Length: 2\r\n\r\nhi",
        ok(posted(b"hi", expect_continue=True)),
    ),
    (
        "expect-100-http10",
        b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
        ok(posted(b"hi", version=(1, 0), keep_alive=False, host=None)),
    ),
    # -- Content-Length bodies
    ("post-cl", POST + b"Content-Length: 5\r\n\r\nhello", ok(posted(b"hello"))),
    ("post-cl-zero", POST + b"Content-Length: 0\r\n\r\n", ok(posted(b""))),
    ("post-cl-lowercase", POST + b"content-length: 2\r\n\r\nhi", ok(posted(b"hi"))),
    ("post-cl-leading-zeros", POST + b"Content-Length: 007\r\n\r\nabcdefg", ok(posted(b"abcdefg"))),
    ("post-cl-ows", POST + b"Content-Length:  2 \t\r\n\r\nhi", ok(posted(b"hi"))),
    ("post-cl-body-looks-like-request", with_body(GET), ok(posted(GET))),
    (
        "post-cl-binary",
        POST + b"Content-Length: 4\r\n\r\n\x00\r\n\xff",
        ok(posted(b"\x00\r\n\xff")),
    ),
    # -- chunked bodies
    ("chunked", CHUNKED + b"5\r\nhello\r\n0\r\n\r\n", ok(chunked(b"hello"))),
    ("chunked-empty", CHUNKED + b"0\r\n\r\n", ok(chunked(b""))),
    (
        "chunked-multi",
        CHUNKED + b"2\r\nhe\r\n3\r\nllo\r\n1\r\n!\r\n0\r\n\r\n",
        ok(chunked(b"hello!")),
    ),
    (
        "chunked-hex-case",
        CHUNKED + b"a\r\n0123456789\r\nB\r\n0123456789a\r\n0\r\n\r\n",
        ok(chunked(b"0123456789" + b"0123456789a")),
    ),
    ("chunked-leading-zeros", CHUNKED + b"0003\r\nabc\r\n000\r\n\r\n", ok(chunked(b"abc"))),
    ("chunked-16-digits", CHUNKED + b"0000000000000002\r\nab\r\n0\r\n\r\n", ok(chunked(b"ab"))),
    ("chunked-ext", CHUNKED + b"3;name=value\r\nabc\r\n0\r\n\r\n", ok(chunked(b"abc"))),
    ("chunked-ext-name-only", CHUNKED + b"3;flag\r\nabc\r\n0;last\r\n\r\n", ok(chunked(b"abc"))),
    ("chunked-ext-many", CHUNKED + b"3;a;b=c;d=e\r\nabc\r\n0\r\n\r\n", ok(chunked(b"abc"))),
    ("chunked-ext-quoted", CHUNKED + b'3;n="v; x=y"\r\nabc\r\n0\r\n\r\n', ok(chunked(b"abc"))),
    (
        "chunked-ext-quoted-escape",
        CHUNKED + b'3;n="a\\"b\\\\"\r\nabc\r\n0\r\n\r\n',
        ok(chunked(b"abc")),
    ),
    # BWS around ";" and "=" (RFC 9112 §7.1.1; RFC 9110 §5.6.3: a recipient MUST parse it)
    ("chunk-ext-bws-before-semicolon", chunk_line(b" ;a"), ok(chunked(b"abc"))),
    ("chunk-ext-bws-after-semicolon", chunk_line(b"; a"), ok(chunked(b"abc"))),
    ("chunk-ext-bws-around-equals", chunk_line(b";a = b"), ok(chunked(b"abc"))),
    ("chunk-ext-bws-tabs", chunk_line(b"\t;\ta\t=\tb"), ok(chunked(b"abc"))),
    (
        "chunk-ext-bws-everywhere",
        CHUNKED + b'5; some; parameters=stuff\r\nhello\r\n0 ; last ;q = "x ; y"\r\n\r\n',
        ok(chunked(b"hello")),
    ),
    (  # the chunk-size line may be 4096 bytes without its CRLF, extensions included
        "chunk-ext-at-limit",
        chunk_line(b";a=" + b"b" * 4092),
        ok(chunked(b"abc")),
    ),
    ("chunked-trailer", CHUNKED + b"3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n", ok(chunked(b"abc"))),
    ("chunked-trailers", CHUNKED + b"0\r\nA: 1\r\nB:\t2 \r\nC:\r\n\r\n", ok(chunked(b""))),
    ("chunked-trailer-framing-name", CHUNKED + b"0\r\nContent-Length: 5\r\n\r\n", ok(chunked(b""))),
    # Trailers never reach the head (RFC 9110 §6.5.2): a Host there leaves the request's host alone
    ("chunked-trailer-host", CHUNKED + b"0\r\nHost: evil.example\r\n\r\n", ok(chunked(b""))),
    (
        "chunked-trailer-te",
        CHUNKED + b"0\r\nTransfer-Encoding: chunked\r\n\r\n" + GET,
        ok(chunked(b""), R),
    ),
    (  # RFC 9112 §9.6: nothing after the trailer section of a "close" request is parsed
        "chunked-close-stops-pipeline",
        POST + b"Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n" + GET,
        ok(chunked(b"x", keep_alive=False)),
    ),
    (
        "chunked-data-has-crlf",
        CHUNKED + b"7\r\n\r\n0\r\n\r\n\r\n0\r\n\r\n",
        ok(chunked(b"\r\n0\r\n\r\n")),
    ),
    ("te-value-case", POST + b"Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", ok(chunked(b""))),
    ("te-name-case", POST + b"transfer-ENCODING: chunked\r\n\r\n0\r\n\r\n", ok(chunked(b""))),
    (
        "te-tab-ows",
        POST + b"Transfer-Encoding:\tchunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
        ok(chunked(b"x")),
    ),
    ("te-trailing-ows", POST + b"Transfer-Encoding: chunked\t \r\n\r\n0\r\n\r\n", ok(chunked(b""))),
    # -- connections, pipelining, upgrade
    ("pipeline-pair", GET + GET, ok(R, R)),
    (
        "pipeline-triple",
        GET + POST + b"Content-Length: 3\r\n\r\nabc" + GET,
        ok(R, posted(b"abc"), R),
    ),
    ("pipeline-chunked-then-get", CHUNKED + b"1\r\nx\r\n0\r\n\r\n" + GET, ok(chunked(b"x"), R)),
    ("pipeline-crlf-between", POST + b"Content-Length: 1\r\n\r\nx\r\n" + GET, ok(posted(b"x"), R)),
    ("http10", b"GET / HTTP/1.0\r\n\r\n", ok(Req(version=(1, 0), keep_alive=False, host=None))),
    (
        "http10-keep-alive-pair",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2,
        ok(Req(version=(1, 0), host=None), Req(version=(1, 0), host=None)),
    ),
    (
        "http10-keep-alive-case",
        b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        ok(Req(version=(1, 0), host=None)),
    ),
    ("close", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", ok(CLOSE)),
    (
        "close-stops-pipeline",
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + GET,
        ok(CLOSE),
    ),
    (
        "close-in-list",
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n",
        ok(CLOSE),
    ),
    (
        "close-second-header",
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n",
        ok(CLOSE),
    ),
    (
        "http10-close-wins",
        b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
        ok(Req(version=(1, 0), keep_alive=False, host=None)),
    ),
    (
        "upgrade-websocket-pipelined",
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + GET,
        ok(Req(target=b"/ws", headers=((b"Upgrade", b"websocket"),)), R),
    ),
    (
        "upgrade-h2c-with-body",
        POST + b"Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"HTTP2-Settings: AAMAAABkAAQAAP__\r\n"
        b"Content-Length: 3\r\n\r\nabc" + GET,
        ok(posted(b"abc"), R),
    ),
]

INVALID: list[Vector] = [
    # -- line endings and whitespace (RFC 9112 §2.2, §5.1, §5.2)
    ("bare-lf-request-line", b"GET / HTTP/1.1\nHost: a\r\n\r\n", err(400)),
    ("bare-lf-everywhere", b"GET / HTTP/1.1\nHost: a\n\n", err(400)),
    ("bare-lf-header", b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", err(400)),
    ("bare-lf-end-of-head", b"GET / HTTP/1.1\r\nHost: a\r\n\n", err(400)),
    ("bare-lf-before-request", b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("bare-cr-before-request", b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("bare-cr-request-line", b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("bare-cr-request-line-unknown-method", b"FOO /\r HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("bare-cr-header", b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", err(400)),
    ("bare-cr-end-of-head", b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", err(400)),
    ("cr-cr-lf", b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", err(400)),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", err(400)),
    ("obs-fold-tab", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n", err(400)),
    ("obs-fold-first-line", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", err(400)),
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", err(400)),
    ("tab-before-colon", b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", err(400)),
    ("space-line", b" \r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    # -- header names and values (RFC 9110 §5.1, §5.5)
    ("name-at-sign", b"GET / HTTP/1.1\r\nHost: a\r\nX@Y: 1\r\n\r\n", err(400)),
    ("name-quote", b'GET / HTTP/1.1\r\nHost: a\r\nX"Y: 1\r\n\r\n', err(400)),
    ("name-paren", b"GET / HTTP/1.1\r\nHost: a\r\nX(Y): 1\r\n\r\n", err(400)),
    ("name-slash", b"GET / HTTP/1.1\r\nHost: a\r\nX/Y: 1\r\n\r\n", err(400)),
    ("name-non-ascii", b"GET / HTTP/1.1\r\nHost: a\r\nX\xe9: 1\r\n\r\n", err(400)),
    ("name-nul", b"GET / HTTP/1.1\r\nHost: a\r\nX\x00Y: 1\r\n\r\n", err(400)),
    ("name-empty", b"GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n", err(400)),
    ("no-colon", b"GET / HTTP/1.1\r\nHost: a\r\nXYZ\r\n\r\n", err(400)),
    ("value-nul", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", err(400)),
    ("value-ctl", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", err(400)),
    ("value-del", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", err(400)),
    ("value-vt", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0bb\r\n\r\n", err(400)),
    ("value-ff", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0cb\r\n\r\n", err(400)),
    ("value-esc", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[1m\r\n\r\n", err(400)),
    (
        "too-many-headers",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: 0\r\n" + MANY_HEADERS + b"\r\n",
        err(431),
    ),
    # -- Content-Type is a singleton (RFC 9110 §8.3): never merged, never last-wins
    (
        "content-type-repeated",
        POST + b"Content-Type: text/plain\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n",
        err(400),
    ),
    (
        "content-type-repeated-equal",
        POST + b"Content-Type: a/b\r\ncontent-type: a/b\r\nContent-Length: 0\r\n\r\n",
        err(400),
    ),
    (
        "content-type-repeated-empty",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Type:\r\nContent-Type:\r\n\r\n",
        err(400),
    ),
    # -- Host (RFC 9112 §3.2)
    ("host-missing", b"GET / HTTP/1.1\r\n\r\n", err(400)),
    ("host-missing-absolute-form", b"GET http://a/ HTTP/1.1\r\n\r\n", err(400)),
    ("host-repeated", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", err(400)),
    ("host-repeated-case", b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", err(400)),
    ("host-repeated-http10", b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", err(400)),
    ("host-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", err(400)),
    ("host-tab", b"GET / HTTP/1.1\r\nHost: a\tb\r\n\r\n", err(400)),
    ("host-slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", err(400)),
    ("host-userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", err(400)),
    ("host-ctl", b"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", err(400)),
    ("host-non-ascii", b"GET / HTTP/1.1\r\nHost: caf\xe9\r\n\r\n", err(400)),
    ("host-hash", b"GET / HTTP/1.1\r\nHost: a#b\r\n\r\n", err(400)),
    ("host-bad-port", b"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", err(400)),
    ("host-two-colons", b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", err(400)),
    ("host-open-bracket", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", err(400)),
    ("host-empty-brackets", b"GET / HTTP/1.1\r\nHost: []\r\n\r\n", err(400)),
    ("host-after-bracket", b"GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", err(400)),
    ("target-bad-port", b"GET http://a:8o/ HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    # -- request line (RFC 9112 §3, §2.3)
    ("http09", b"GET /\r\n\r\n", err(400)),
    ("double-space", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("space-after-version", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", err(400)),
    ("leading-space", b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("tab-separator", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("space-in-target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("version-1-10", b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", err(400)),
    ("version-01-1", b"GET / HTTP/01.1\r\nHost: a\r\n\r\n", err(400)),
    ("version-lowercase", b"GET / http/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("version-no-minor", b"GET / HTTP/1\r\nHost: a\r\n\r\n", err(400)),
    ("version-garbage", b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", err(400)),
    ("version-rtsp", b"GET / RTSP/1.0\r\nHost: a\r\n\r\n", err(400)),
    ("version-2", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", err(505)),
    ("version-09", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", err(505)),
    ("version-1-2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", err(505)),
    ("version-3", b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", err(505)),
    ("h2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", err(505)),
    ("method-not-token", b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("method-nul", b"G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("method-non-ascii", b"G\xc9T / HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("method-unknown", b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n", err(501)),
    ("method-lowercase", b"get / HTTP/1.1\r\nHost: a\r\n\r\n", err(501)),
    ("method-pri-http11", b"PRI * HTTP/1.1\r\nHost: a\r\n\r\n", err(501)),
    ("connect", b"CONNECT a.b:443 HTTP/1.1\r\nHost: a.b:443\r\n\r\n", err(501)),
    ("target-relative", b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("target-authority-form", b"GET a.b:80 HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("target-fragment", b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("target-ctl", b"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("target-del", b"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("target-non-ascii", b"GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("target-star-get", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("target-userinfo", b"GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("target-empty-host", b"GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("target-other-scheme", b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    ("request-line-too-long", b"GET " + LONG_TARGET + b"a HTTP/1.1\r\nHost: a\r\n\r\n", err(414)),
    ("method-too-long", b"A" * 8200 + b" / HTTP/1.1\r\nHost: a\r\n\r\n", err(400)),
    # -- Content-Length (RFC 9110 §8.6, RFC 9112 §6.3)
    (
        "cl-te",
        POST + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
        err(400),
    ),
    ("te-cl", POST + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nG", err(400)),
    ("cl-repeated-equal", POST + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", err(400)),
    (
        "cl-repeated-different",
        POST + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        err(400),
    ),
    ("cl-list", POST + b"Content-Length: 3, 3\r\n\r\nabc", err(400)),
    ("cl-plus", POST + b"Content-Length: +3\r\n\r\nabc", err(400)),
    ("cl-negative", POST + b"Content-Length: -3\r\n\r\nabc", err(400)),
    ("cl-hex", POST + b"Content-Length: 0x3\r\n\r\nabc", err(400)),
    ("cl-inner-space", POST + b"Content-Length: 1 3\r\n\r\nabc", err(400)),
    ("cl-empty", POST + b"Content-Length: \r\n\r\nabc", err(400)),
    ("cl-decimal", POST + b"Content-Length: 3.0\r\n\r\nabc", err(400)),
    ("cl-2-63", POST + b"Content-Length: 9223372036854775808\r\n\r\nabc", err(400)),
    ("cl-2-64", POST + b"Content-Length: 18446744073709551616\r\n\r\nabc", err(400)),
    ("cl-many-digits", POST + b"Content-Length: 00000000000000000000003\r\n\r\nabc", err(400)),
    # -- Transfer-Encoding (RFC 9112 §6.1, §6.3, §7)
    ("te-chunked-gzip", POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", err(400)),
    (
        "te-chunked-chunked",
        POST + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        err(400),
    ),
    ("te-xchunked", POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", err(400)),
    ("te-chunked-param", POST + b"Transfer-Encoding: chunked;x\r\n\r\n0\r\n\r\n", err(400)),
    ("te-empty", POST + b"Transfer-Encoding: \r\n\r\n", err(400)),
    ("te-gzip-only", POST + b"Transfer-Encoding: gzip\r\n\r\nabc", err(400)),
    ("te-empty-element", POST + b"Transfer-Encoding: , chunked\r\n\r\n0\r\n\r\n", err(400)),
    ("te-gzip-chunked", POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", err(501)),
    ("te-deflate-chunked", POST + b"Transfer-Encoding: deflate,chunked\r\n\r\n0\r\n\r\n", err(501)),
    (
        "te-repeated",
        POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        err(400),
    ),
    (
        "te-repeated-split",
        POST + b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        err(400),
    ),
    (
        "te-repeated-case",
        POST + b"Transfer-Encoding: chunked\r\nTransfer-encoding: x\r\n\r\n0\r\n\r\n",
        err(400),
    ),
    ("te-http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err(400)),
    ("te-vertical-tab", POST + b"Transfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n", err(400)),
    ("te-vertical-tab-before", POST + b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", err(400)),
    ("te-space-before-colon", POST + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", err(400)),
    ("te-obs-fold", POST + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", err(400)),
    ("te-bare-lf-injection", POST + b"X: y\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err(400)),
    # Not Transfer-Encoding at all: no body, so the chunk lines are read as the next request.
    (
        "te-underscore-is-other-header",
        POST + b"Transfer_Encoding: chunked\r\n\r\n0\r\n\r\n",
        err(400, Req("POST", headers=((b"Transfer_Encoding", b"chunked"),))),
    ),
    # -- chunked framing (RFC 9112 §7.1)
    ("chunk-size-0x", CHUNKED + b"0x3\r\nabc\r\n0\r\n\r\n", err(400)),
    ("chunk-size-plus", CHUNKED + b"+3\r\nabc\r\n0\r\n\r\n", err(400)),
    ("chunk-size-minus", CHUNKED + b"-3\r\nabc\r\n0\r\n\r\n", err(400)),
    ("chunk-size-leading-space", CHUNKED + b" 3\r\nabc\r\n0\r\n\r\n", err(400)),
    ("chunk-size-inner-space", CHUNKED + b"1 0\r\n0123456789abcdef\r\n0\r\n\r\n", err(400)),
    ("chunk-size-trailing-space", CHUNKED + b"3 \r\nabc\r\n0\r\n\r\n", err(400)),
    ("chunk-size-underscore", CHUNKED + b"1_0\r\n0123456789abcdef\r\n0\r\n\r\n", err(400)),
    ("chunk-size-empty", CHUNKED + b"\r\nabc\r\n0\r\n\r\n", err(400)),
    ("chunk-size-not-hex", CHUNKED + b"g\r\nabc\r\n0\r\n\r\n", err(400)),
    ("chunk-size-17-digits", CHUNKED + b"00000000000000003\r\nabc\r\n0\r\n\r\n", err(400)),
    ("chunk-size-overflow", CHUNKED + b"10000000000000000\r\nabc\r\n0\r\n\r\n", err(400)),
    ("chunk-ext-empty", chunk_line(b";"), err(400)),
    ("chunk-ext-no-name", chunk_line(b";=v"), err(400)),
    ("chunk-ext-no-value", chunk_line(b";a="), err(400)),
    ("chunk-ext-open-quote", chunk_line(b';a="b'), err(400)),
    ("chunk-ext-space", chunk_line(b";a b"), err(400)),
    # chunk-ext whitespace is BWS (SP, HTAB) before ";" and "=" only, and the line ends at CRLF
    ("chunk-ext-bws-no-name", chunk_line(b"; "), err(400)),
    ("chunk-ext-bws-no-value", chunk_line(b";a= "), err(400)),
    ("chunk-ext-bws-two-semicolons", chunk_line(b"; ;a"), err(400)),
    ("chunk-ext-trailing-bws", chunk_line(b";a "), err(400)),
    ("chunk-ext-trailing-bws-value", chunk_line(b";a=b\t"), err(400)),
    ("chunk-ext-bws-vertical-tab", chunk_line(b"\x0b;a"), err(400)),
    ("chunk-ext-bws-form-feed", chunk_line(b";\x0ca"), err(400)),
    ("chunk-ext-bws-bare-cr", chunk_line(b" \r;a"), err(400)),
    ("chunk-ext-bare-cr-in-value", chunk_line(b";a=b\rc"), err(400)),
    ("chunk-ext-bare-lf", CHUNKED + b"3;a\nabc\r\n0\r\n\r\n", err(400)),
    ("chunk-ext-lf-in-quotes", chunk_line(b';a="b\nc"'), err(400)),
    ("chunk-ext-nul", chunk_line(b";a\x00"), err(400)),
    ("chunk-ext-nul-in-quotes", chunk_line(b';a="\x00"'), err(400)),
    ("chunk-ext-bws-between-digits", CHUNKED + b"1 0;a\r\n0123456789abcdef\r\n0\r\n\r\n", err(400)),
    ("chunk-ext-bws-before-size", CHUNKED + b" 3;a\r\nabc\r\n0\r\n\r\n", err(400)),
    ("chunk-ext-too-long", chunk_line(b";a=" + b"b" * 4093), err(400)),
    ("chunk-ext-ctl", chunk_line(b";a=\x01"), err(400)),
    ("chunk-data-too-long", CHUNKED + b"3\r\nabcd\r\n0\r\n\r\n", err(400)),
    ("chunk-data-lf-only", CHUNKED + b"3\r\nabc\n0\r\n\r\n", err(400)),
    ("chunk-lines-lf-only", CHUNKED + b"3\nabc\n0\n\n", err(400)),
    ("chunk-last-bare-lf", CHUNKED + b"0\r\n\n", err(400)),
    ("trailer-obs-fold", CHUNKED + b"0\r\nA: 1\r\n 2\r\n\r\n", err(400)),
    ("trailer-no-colon", CHUNKED + b"0\r\nABC\r\n\r\n", err(400)),
    ("trailer-bad-name", CHUNKED + b"0\r\nA B: 1\r\n\r\n", err(400)),
    ("trailer-space-before-colon", CHUNKED + b"0\r\nA : 1\r\n\r\n", err(400)),
    ("trailer-nul", CHUNKED + b"0\r\nA: \x00\r\n\r\n", err(400)),
    ("trailer-bare-cr", CHUNKED + b"0\r\nA: 1\rB: 2\r\n\r\n", err(400)),
    ("trailer-bare-lf", CHUNKED + b"0\r\nA: 1\n\r\n", err(400)),
    # -- Expect (RFC 9110 §10.1.1)
    ("expect-other", POST + b"Expect: 200-ok\r\nContent-Length: 0\r\n\r\n", err(417)),
    ("expect-list", POST + b"Expect: 100-continue, x\r\nContent-Length: 0\r\n\r\n", err(417)),
    # -- nothing after a bad request is parsed
    ("pipeline-good-then-bad", GET + b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n" + GET, err(400, R)),
    (
        "pipeline-good-then-garbage",
        GET + b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n",
        err(400, R),
    ),
    ("pipeline-bad-then-good", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n" + GET, err(400)),
    (
        "pipeline-smuggled-cl-te",
        POST + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + GET,
        err(400),
    ),
    # The extra bytes start the next request line: "defGET" is a well-formed, unknown method.
    (
        "pipeline-body-overrun",
        POST + b"Content-Length: 3\r\n\r\nabcdef" + GET,
        err(501, posted(b"abc")),
    ),
    # -- input that stops in the middle of a request: the error comes at EOF
    ("eof-request-line", b"GET / HTT", err(400, at_eof=True)),
    ("eof-head", b"GET / HTTP/1.1\r\nHost: a\r\n", err(400, at_eof=True)),
    ("eof-lone-cr", GET + b"\r", err(400, R, at_eof=True)),
    ("eof-cl-body", POST + b"Content-Length: 5\r\n\r\nabc", err(400, at_eof=True)),
    ("eof-chunk-data", CHUNKED + b"5\r\nabc", err(400, at_eof=True)),
    ("eof-last-chunk-no-crlf", CHUNKED + b"0\r\n", err(400, at_eof=True)),
    ("eof-trailer", CHUNKED + b"0\r\nX: 1\r\n", err(400, at_eof=True)),
]

VECTORS: list[Vector] = VALID + INVALID
