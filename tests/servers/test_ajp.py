"""The AJP13 server over real sockets, with the test client playing the web server.

One behaviour a test: reuse, CPing, the secret, body framing (Content-Length, chunked, short,
too large), response chunking, faults (malformed packets, an app that fails after its head,
headers too big for a packet), inline and streaming modes, and the ``wsgikit ajp`` command.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.servers.ajp_client import Reply, exchange, read_packet
from tests.servers.helpers import InternalErrors, only_connection, running, slow_reader, wait_for
from wsgikit._ajp import encode_request
from wsgikit.servers._connection import WRITE
from wsgikit.servers.ajp import AJPConnection, AJPServer


def echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("X-Script", environ["SCRIPT_NAME"]),
         ("X-Path", environ["PATH_INFO"]), ("X-Length", environ.get("CONTENT_LENGTH", "-"))],
    )  # fmt: skip
    return [b"%s %d" % (environ["REQUEST_METHOD"].encode(), len(body))]


def big(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    yield b"a" * 20000
    yield b"b" * 3


def fails_after_head(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"part"
    raise RuntimeError("ajp kaboom")


def raises_at_once(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    raise RuntimeError("ajp early kaboom")


def huge_headers(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Big", "v" * 9000)])
    return [b"never seen"]


def recorder(seen: dict[str, Any]) -> Any:
    """An app that keeps its environ in ``seen`` and answers 204."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("204 No Content", [])
        return []

    return app


def post(path: bytes, body: bytes, **options: Any) -> bytes:
    headers = [(b"Content-Length", str(len(body)).encode())]
    return encode_request("POST", path, headers, **options)


def serve(app: Any, **options: Any) -> Any:
    return running(app, server_class=AJPServer, **options)


def test_requests_share_one_connection() -> None:
    with serve(echo) as srv, srv.connect() as sock:
        replies = [exchange(sock, encode_request("GET", b"/%d" % n)) for n in range(5)]
        assert [r.header("X-Path") for r in replies] == [f"/{n}" for n in range(5)]
        assert all(r.reuse for r in replies)
        assert len(srv.server.conns) == 1


def test_cping_is_answered_between_requests() -> None:
    with serve(echo) as srv, srv.connect() as sock:
        sock.sendall(b"\x12\x34\x00\x01\x0a")
        assert read_packet(sock) == b"\x09"
        assert exchange(sock, encode_request("GET", b"/")).status == 200


def test_post_body_over_many_chunks() -> None:
    body = bytes(range(256)) * 400
    with serve(echo) as srv, srv.connect() as sock:
        reply = exchange(sock, post(b"/up", body), body)
    assert (reply.body, reply.header("X-Length")) == (b"POST 102400", "102400")
    assert reply.asked == 12  # 8186 bytes a packet: the first unasked, then one ask each


def test_chunked_upload_gets_a_content_length() -> None:
    body = b"c" * 30000
    request = encode_request("PUT", b"/", [(b"Transfer-Encoding", b"chunked")])
    with serve(echo) as srv, srv.connect() as sock:
        reply = exchange(sock, request, body, first=False)
    assert (reply.body, reply.header("X-Length")) == (b"PUT 30000", "30000")


def test_body_short_of_content_length_is_400() -> None:
    request = post(b"/", b"x" * 100)
    with serve(echo) as srv, srv.connect() as sock:
        sock.sendall(request + b"\x12\x34\x00\x05\x00\x03abc" + b"\x12\x34\x00\x00")
        reply = exchange(sock, b"")
    assert reply.status == 400


def test_body_over_max_body_is_413() -> None:
    body = b"x" * 20000
    with serve(echo, max_body=10000) as srv, srv.connect() as sock:
        reply = exchange(sock, post(b"/", body), body)
        assert reply.status == 413
        assert reply.reuse  # the body was read to its end: the connection goes on
        assert exchange(sock, encode_request("GET", b"/")).status == 200


def test_response_chunks_fit_httpd_packets() -> None:
    with serve(big) as srv, srv.connect() as sock:
        reply = exchange(sock, encode_request("GET", b"/"))
    assert reply.body == b"a" * 20000 + b"bbb"
    assert max(reply.chunk_sizes) == 8184  # 8192 - 4 (head) - 1 (type) - 2 (length) - 1 (NUL)


def test_larger_packets_with_max_packet_size() -> None:
    with serve(big, max_packet_size=65536) as srv, srv.connect() as sock:
        reply = exchange(sock, encode_request("GET", b"/"))
    assert reply.chunk_sizes == [20000, 3]


def test_inline_mode_pauses_and_resumes_a_large_response() -> None:
    def large(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for _ in range(400):
            yield b"z" * 10000

    with serve(large, threads=0, write_buffer=65536) as srv, srv.connect() as sock:
        reply = exchange(sock, encode_request("GET", b"/"))
        assert (len(reply.body), reply.reuse) == (4_000_000, True)
        assert exchange(sock, encode_request("GET", b"/")).reuse


BIG = bytes(range(256)) * (16 * 4096)  # 16 MiB: more than any socket buffer here


@pytest.mark.parametrize(
    "threads", [pytest.param(1, id="one-thread"), pytest.param(0, id="inline")]
)
def test_a_web_server_that_does_not_read_holds_nothing_else(threads: int) -> None:
    produced: list[int] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        if environ["PATH_INFO"] == "/stream":
            for start in range(0, len(BIG), 65536):
                produced.append(start)
                yield BIG[start : start + 65536]
        else:
            yield b"ok"

    with serve(app, threads=threads) as srv, slow_reader(srv) as slow:
        slow.sendall(encode_request("GET", b"/stream"))
        conn = only_connection(srv)
        assert wait_for(lambda: conn.unsent_size > 0)
        if threads == 0:  # the loop serves others while the response waits, paused
            with srv.connect() as other:
                assert exchange(other, encode_request("GET", b"/x")).body == b"ok"
            assert wait_for(lambda: conn.state == WRITE)
        time.sleep(0.3)  # time enough to run ahead, were the app not held back
        assert len(produced) < len(BIG) // 65536 // 2  # the app waits for the web server
        reply = exchange(slow, b"")
    assert (reply.body == BIG, reply.reuse) == (True, True)


def test_streamed_body_reaches_the_app() -> None:
    body = b"s" * 200_000
    with serve(echo, buffer_bodies=False, prebuffer=0) as srv, srv.connect() as sock:
        reply = exchange(sock, post(b"/", body), body)
    assert reply.body == b"POST 200000"


def test_streamed_body_the_app_left_unread_ends_the_connection() -> None:
    def ignores(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"not read"]

    body = b"u" * 100_000
    with serve(ignores, buffer_bodies=False, prebuffer=0) as srv, srv.connect() as sock:
        reply = exchange(sock, post(b"/", body), body)
        assert (reply.body, reply.reuse) == (b"not read", False)  # the rest of it would follow
        assert sock.recv(1) == b""


def test_a_request_cut_short_times_out_with_a_log_line(caplog: Any) -> None:
    with serve(echo, header_timeout=0.2) as srv, srv.connect() as sock:
        with caplog.at_level(logging.WARNING, "wsgikit.error"):
            sock.sendall(encode_request("GET", b"/")[:10])
            assert sock.recv(1) == b""
    assert "AJP connection from 127.0.0.1: request not received in time" in caplog.text


def test_an_idle_connection_closes_without_a_word(caplog: Any) -> None:
    with serve(echo, idle_timeout=0.2) as srv, srv.connect() as sock:
        with caplog.at_level(logging.WARNING, "wsgikit.error"):
            assert exchange(sock, encode_request("GET", b"/")).reuse
            assert sock.recv(1) == b""
    assert "AJP" not in caplog.text


def test_script_name_mounts_the_app() -> None:
    with serve(echo, script_name="/app") as srv, srv.connect() as sock:
        reply = exchange(sock, encode_request("GET", b"/app/a%20b"))
    assert (reply.header("X-Script"), reply.header("X-Path")) == ("/app", "/a b")


@pytest.mark.parametrize("given", [None, b"wrong"])
def test_secret_refuses_other_requests(given: bytes | None, caplog: Any) -> None:
    attributes = [] if given is None else [("secret", given)]
    with serve(echo, secret="right") as srv, srv.connect() as sock:
        with caplog.at_level(logging.INFO, "wsgikit.error"):
            reply = exchange(sock, encode_request("GET", b"/", attributes=attributes))
    assert reply.status == 403
    assert "AJP secret" in caplog.text


def test_secret_lets_the_right_one_in() -> None:
    with serve(echo, secret="right") as srv, srv.connect() as sock:
        reply = exchange(sock, encode_request("GET", b"/", attributes=[("secret", b"right")]))
    assert reply.body == b"GET 0"


def test_secret_as_httpd_setenv_ajp_secret() -> None:
    pairs = [(b"SECRET", b"right")]
    with serve(echo, secret="right") as srv, srv.connect() as sock:
        reply = exchange(sock, encode_request("GET", b"/", req_attributes=pairs))
    assert reply.body == b"GET 0"


def test_request_attributes_reach_the_environ_but_not_the_secret() -> None:
    seen: dict[str, Any] = {}
    pairs = [(b"TENANT", b"blue"), (b"AJP_LOCAL_ADDR", b"10.0.0.1"), (b"SECRET", b"s"),
             (b"AJP_REMOTE_PORT", b"4242"), (b"bad name", b"x")]  # fmt: skip
    with serve(recorder(seen)) as srv, srv.connect() as sock:
        assert exchange(sock, encode_request("GET", b"/", req_attributes=pairs)).status == 204
    assert (seen["AJP_TENANT"], seen["AJP_LOCAL_ADDR"]) == ("blue", "10.0.0.1")
    assert seen["REMOTE_PORT"] == "4242"
    assert not [key for key in seen if "SECRET" in key or " " in key]


def test_tls_and_auth_attributes_reach_the_environ() -> None:
    seen: dict[str, Any] = {}
    attributes = [("ssl_cipher", b"TLS_AES_256_GCM_SHA384"), ("ssl_key_size", b"256"),
                  ("remote_user", b"alice"), ("auth_type", b"Basic")]  # fmt: skip
    request = encode_request("GET", b"/", is_ssl=True, server_port=443, attributes=attributes)
    with serve(recorder(seen)) as srv, srv.connect() as sock:
        assert exchange(sock, request).status == 204
    assert (seen["wsgi.url_scheme"], seen["HTTPS"], seen["SERVER_PORT"]) == ("https", "on", "443")
    assert (seen["SSL_CIPHER"], seen["SSL_CIPHER_USEKEYSIZE"]) == ("TLS_AES_256_GCM_SHA384", "256")
    assert (seen["REMOTE_USER"], seen["AUTH_TYPE"]) == ("alice", "Basic")


def malformed(sock: socket.socket) -> Reply:
    sock.sendall(b"\x12\x34\x00\x02\x02\x63")  # FORWARD_REQUEST with method code 99
    return exchange(sock, b"")


def test_malformed_packet_closes_the_connection_with_one_log_line(caplog: Any) -> None:
    with serve(echo) as srv, srv.connect() as sock, InternalErrors() as errors:
        with caplog.at_level(logging.WARNING, "wsgikit.error"):
            reply = malformed(sock)
    assert (reply.status, reply.reuse) == (0, None)  # closed, nothing answered
    lines = [r.getMessage() for r in caplog.records if "AJP" in r.getMessage()]
    assert lines == ["dropping the AJP connection from 127.0.0.1: unknown AJP method code 99"]
    assert not errors.found


def test_http_on_the_ajp_port_is_dropped(caplog: Any) -> None:
    with serve(echo) as srv, caplog.at_level(logging.WARNING, "wsgikit.error"):
        answer = srv.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer == b""
    assert "an HTTP request on the AJP port?" in caplog.text


def test_app_failing_after_its_head_cuts_the_response(caplog: Any) -> None:
    with serve(fails_after_head, validate=False) as srv, srv.connect() as sock:
        reply = exchange(sock, encode_request("GET", b"/"))
    assert (reply.status, reply.body, reply.reuse) == (200, b"part", None)  # no END_RESPONSE


def test_the_error_page_of_an_app_that_raised_goes_out_with_end_response(
    monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    # One write: sent on its own, the page could reach the client before END_RESPONSE does.
    writes: list[int] = []
    send = AJPConnection.send

    def counted(conn: AJPConnection, *parts: bytes) -> None:
        writes.append(len(parts))
        send(conn, *parts)

    monkeypatch.setattr(AJPConnection, "send", counted)
    with serve(raises_at_once) as srv, srv.connect() as sock:
        reply = exchange(sock, encode_request("GET", b"/"))
    assert (reply.status, reply.reuse) == (500, True)
    assert len(writes) == 1


def test_headers_too_big_for_a_packet_give_500(caplog: Any) -> None:
    with serve(huge_headers) as srv, srv.connect() as sock:
        reply = exchange(sock, encode_request("GET", b"/"))
    assert (reply.status, reply.body, reply.reuse) == (500, b"", True)
    assert "do not fit one AJP packet" in caplog.text


@pytest.mark.parametrize(
    "options",
    [{"max_packet_size": 4096}, {"max_body": -1}, {"secret": ""}, {"script_name": "app"}],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AJPServer(echo, ["127.0.0.1:0"], **options)


def test_wsgikit_ajp_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    from tests.test_cli import APPS, start_server

    (tmp_path / "wk_cli_apps.py").write_text(APPS)
    proc, port = start_server(
        tmp_path, "wk_cli_apps:app", "--secret", "x", command="ajp", scheme="ajp"
    )
    with proc:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                reply = exchange(sock, encode_request("GET", b"/", attributes=[("secret", b"x")]))
            assert (reply.status, reply.body) == (200, b"hello")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()  # nothing once it exited; the with block reaps it
