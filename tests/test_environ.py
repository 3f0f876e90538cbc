"""The request half of the gateway (wsgikit._environ): every environ key and type, the
CGI-variable environ of the gateways, and a wsgi.input that never reads past the body."""

from __future__ import annotations

import io
import sys
from wsgiref.validate import check_environ

import pytest

from tests.gateway_helpers import (
    CONN,
    Head,
    environ_for,
)
from wsgikit.gateway import (
    ClientError,
    ConnectionInfo,
    FileWrapper,
    InputStream,
    environ_from_cgi,
)

# -- environ --------------------------------------------------------------------------------------


def test_environ_passes_wsgiref_check() -> None:
    check_environ(environ_for(Head(b"/x?y=1", method="POST"), body=b"abc"))


def test_environ_basic_keys() -> None:
    env = environ_for(Head(b"/a/b?q=1&r=2"))
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/a/b"
    assert env["QUERY_STRING"] == "q=1&r=2"
    assert env["SCRIPT_NAME"] == ""
    assert env["SERVER_NAME"] == "example.com"
    assert env["SERVER_PORT"] == "8080"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "10.0.0.1"
    assert env["REMOTE_PORT"] == "5555"
    assert env["REQUEST_URI"] == "/a/b?q=1&r=2"


def test_environ_wsgi_keys() -> None:
    env = environ_for()
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert env["wsgi.file_wrapper"] is FileWrapper
    assert env["wsgi.errors"] is sys.stderr


def test_environ_https_scheme() -> None:
    conn = ConnectionInfo(server_name="h", server_port=443, scheme="https")
    env = environ_for(conn=conn)
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTPS"] == "on"


def test_path_info_is_percent_decoded_latin1() -> None:
    # PEP 3333 "Unicode Issues": bytes decoded as latin-1; UTF-8 é is two latin-1 chars.
    env = environ_for(Head(b"/caf%C3%A9/%2Fx"))
    assert env["PATH_INFO"] == "/caf\xc3\xa9//x"
    assert all(ord(c) < 256 for c in env["PATH_INFO"])


def test_raw_non_ascii_path_bytes_are_latin1() -> None:
    env = environ_for(Head(b"/\xff"))
    assert env["PATH_INFO"] == "/\xff"


def test_asterisk_form_keeps_the_star_in_path_info() -> None:
    # As gunicorn, waitress and wsgiref.simple_server pass it (wsgiref.validate refuses it).
    env = environ_for(Head(b"*", method="OPTIONS"))
    assert (env["PATH_INFO"], env["REQUEST_URI"]) == ("*", "*")


def test_query_string_stays_encoded() -> None:
    env = environ_for(Head(b"/?a=%20b"))
    assert env["QUERY_STRING"] == "a=%20b"


@pytest.mark.parametrize(
    ("target", "script", "path"),
    [
        pytest.param(b"/app/x", "/app", "/x", id="under-prefix"),
        pytest.param(b"/app", "/app", "", id="exact-prefix"),
        pytest.param(b"/apple", "/app", "/apple", id="not-a-segment-match"),
        pytest.param(b"/app/", "/app/", "/", id="prefix-with-trailing-slash"),
    ],
)
def test_script_name_mount(target: bytes, script: str, path: str) -> None:
    conn = ConnectionInfo(server_name="h", server_port=80, script_name=script)
    env = environ_for(Head(target), conn=conn)
    assert env["SCRIPT_NAME"] == script.rstrip("/")
    assert env["PATH_INFO"] == path


def test_content_type_and_length_are_not_http_keys() -> None:
    head = Head(
        headers=[(b"Host", b"h"), (b"Content-Type", b"text/plain"), (b"Content-Length", b"3")]
    )
    env = environ_for(head, body=b"abc")
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_headers_with_underscore_are_dropped() -> None:
    head = Head(headers=[(b"Host", b"h"), (b"X-Auth", b"good"), (b"X_Auth", b"spoofed")])
    env = environ_for(head)
    assert env["HTTP_X_AUTH"] == "good"


def test_repeated_headers_joined_with_comma() -> None:
    head = Head(headers=[(b"Host", b"h"), (b"Accept", b"a/b"), (b"accept", b"c/d")])
    assert environ_for(head)["HTTP_ACCEPT"] == "a/b, c/d"


def test_repeated_cookie_headers_joined_with_semicolon() -> None:
    head = Head(headers=[(b"Host", b"h"), (b"Cookie", b"a=1"), (b"Cookie", b"b=2")])
    assert environ_for(head)["HTTP_COOKIE"] == "a=1; b=2"


def test_header_values_are_latin1() -> None:
    head = Head(headers=[(b"Host", b"h"), (b"X-Name", "café".encode())])
    assert environ_for(head)["HTTP_X_NAME"] == "café".encode().decode("latin-1")


def test_absolute_form_authority_replaces_host() -> None:
    head = Head(b"/p", authority=b"other.example:81", headers=[(b"Host", b"ignored")])
    assert environ_for(head)["HTTP_HOST"] == "other.example:81"


def test_environ_from_cgi_never_lets_params_replace_wsgi_keys() -> None:
    body = InputStream(io.BytesIO(b""), 0)
    params = [(b"wsgi.input", b"x"), (b"wsgi.url_scheme", b"https"), (b"wsgi.errors", b"y")]
    env = environ_from_cgi(params, CONN, body)
    assert env["wsgi.input"] is body
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.errors"] is sys.stderr


def test_environ_from_cgi_drops_framing_headers() -> None:
    params = [(b"HTTP_TRANSFER_ENCODING", b"chunked"), (b"HTTP_CONTENT_LENGTH", b"3")]
    env = environ_from_cgi(params, CONN, InputStream(io.BytesIO(b""), 0))
    assert "HTTP_TRANSFER_ENCODING" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_environ_from_cgi_drops_http_proxy_and_sets_https() -> None:
    params = [
        (b"REQUEST_METHOD", b"GET"),
        (b"PATH_INFO", "/é".encode()),
        (b"HTTP_PROXY", b"http://evil:1"),
        (b"HTTPS", b"on"),
    ]
    env = environ_from_cgi(params, CONN, InputStream(io.BytesIO(b""), 0))
    assert "HTTP_PROXY" not in env
    assert env["wsgi.url_scheme"] == "https"
    assert env["PATH_INFO"] == "/é".encode().decode("latin-1")
    assert env["SCRIPT_NAME"] == ""
    assert env["QUERY_STRING"] == ""


# -- wsgi.input -----------------------------------------------------------------------------------


def test_input_never_reads_past_content_length() -> None:
    raw = io.BytesIO(b"bodyNEXT REQUEST")
    stream = InputStream(raw, 4)
    assert stream.read() == b"body"
    assert stream.read(10) == b""
    assert raw.read() == b"NEXT REQUEST"


def test_input_read_sizes() -> None:
    stream = InputStream(io.BytesIO(b"abcdef"), 6)
    assert stream.read(2) == b"ab"
    assert stream.read(0) == b""
    assert stream.read(None) == b"cdef"


def test_input_readline_and_limit() -> None:
    stream = InputStream(io.BytesIO(b"one\ntwo\nthree"), 13)
    assert stream.readline() == b"one\n"
    assert stream.readline(2) == b"tw"
    assert stream.readline() == b"o\n"
    assert stream.readline() == b"three"
    assert stream.readline() == b""


def test_input_readlines_and_iter() -> None:
    assert InputStream(io.BytesIO(b"a\nb\nc"), 5).readlines() == [b"a\n", b"b\n", b"c"]
    assert list(InputStream(io.BytesIO(b"a\nb\n"), 4)) == [b"a\n", b"b\n"]


def test_input_without_length_reads_to_reader_end() -> None:
    assert InputStream(io.BytesIO(b"chunked body"), None).read() == b"chunked body"


def test_input_body_shorter_than_its_length_is_the_clients_fault() -> None:
    stream = InputStream(io.BytesIO(b"ab"), 10)
    with pytest.raises(ClientError) as caught:
        stream.read()
    assert caught.value.status == 400
    assert stream.read(5) == b""


class Trickle:
    """A body reader that gives at most ``piece`` bytes a call, as a socket does."""

    def __init__(self, data: bytes, piece: int) -> None:
        self.data = data
        self.piece = piece
        self.calls = 0

    def read(self, size: int) -> bytes:
        self.calls += 1
        data, self.data = self.data[: min(size, self.piece)], self.data[min(size, self.piece) :]
        return data


@pytest.mark.parametrize("piece", [1, 7, 8192, 65536])
def test_input_read_n_returns_n_bytes_however_the_body_arrives(piece: int) -> None:
    body = bytes(range(256)) * 400
    stream = InputStream(Trickle(body, piece), len(body))
    assert stream.read(len(body)) == body
    assert stream.read(1) == b""


def test_input_read_n_after_readline_joins_the_buffer_and_the_reader() -> None:
    body = b"first line\n" + b"x" * 100_000
    stream = InputStream(Trickle(body, 1000), len(body))
    assert stream.readline() == b"first line\n"
    assert stream.read(100_000) == b"x" * 100_000


def test_input_read_n_of_a_chunked_body_stops_at_its_end() -> None:
    stream = InputStream(Trickle(b"abc" * 1000, 10), None)
    assert stream.read(5000) == b"abc" * 1000
    assert stream.read(5000) == b""


def test_for_peer_copies_the_base() -> None:
    info = CONN.for_peer(("192.0.2.1", 1234))
    assert info.base["REMOTE_ADDR"] == "192.0.2.1"
    assert info.base["REMOTE_PORT"] == "1234"
    assert CONN.base["REMOTE_ADDR"] == "10.0.0.1"
