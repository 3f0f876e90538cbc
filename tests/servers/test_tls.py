"""TLS on the HTTP server: handshakes on the loop, the environ, real clients (Python's ssl and
http.client, curl, openssl s_client), client certificates, reads and writes through OpenSSL's
buffers, file_wrapper without sendfile, certificate reload, and bad files at start."""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.servers.apps import echo, hello
from tests.servers.helpers import read_all, wait_for
from tests.servers.test_http_bodies import recv_response
from tests.servers.tls_helpers import (
    CLIENT_DN,
    Certs,
    client_context,
    tls_running,
)
from wsgikit.servers._tls import TLSConfig, TLSError
from wsgikit.servers._tls_environ import distinguished_name

GET = b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n"
GET_CLOSE = b"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def tls_vars(environ: Any, start_response: Any) -> list[bytes]:
    """The environ's scheme and SSL_* variables as JSON."""
    keys = ("wsgi.url_scheme", "HTTPS", "SSL_PROTOCOL", "SSL_CLIENT_VERIFY", "SSL_CLIENT_S_DN")
    body = json.dumps({k: environ.get(k) for k in keys}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def fetch(srv: Any, certs: Certs, method: str = "GET", body: bytes | None = None) -> Any:
    """One request with http.client over TLS: (the response, its body)."""
    conn = http.client.HTTPSConnection("localhost", srv.port, context=client_context(certs))
    try:
        conn.request(method, "/", body=body)
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def body_of(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1]


# -- clients ------------------------------------------------------------------------------------


def test_http_client_gets_https_environ(serve_tls: Any, certs: Certs) -> None:
    with serve_tls(tls_vars, certs) as srv:
        got = json.loads(fetch(srv, certs)[1])
    assert got["wsgi.url_scheme"] == "https"
    assert got["HTTPS"] == "on"
    assert got["SSL_CLIENT_VERIFY"] == "NONE"


def test_alpn_selects_http11(serve_tls: Any, certs: Certs) -> None:
    ctx = client_context(certs)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with serve_tls(hello, certs) as srv, srv.tls_connect(ctx=ctx) as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"


def test_curl_with_cacert(serve_tls: Any, certs: Certs) -> None:
    with serve_tls(hello, certs) as srv:
        out = subprocess.run(
            ["curl", "-sS", "--cacert", str(certs.ca), f"https://localhost:{srv.port}/a?b"],
            capture_output=True,
            timeout=30,
            check=True,
        )
    assert out.stdout == b"Hello, /a"


def test_openssl_s_client_verifies_and_gets_an_answer(serve_tls: Any, certs: Certs) -> None:
    with serve_tls(hello, certs) as srv:
        out = subprocess.run(
            [
                "openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-CAfile",
                str(certs.ca), "-verify_return_error", "-alpn", "http/1.1", "-ign_eof",
            ],
            input=GET_CLOSE,
            capture_output=True,
            timeout=30,
            check=False,
        )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert b"Verify return code: 0 (ok)" in out.stdout
    assert b"ALPN protocol: http/1.1" in out.stdout
    assert out.stdout.split(b"Hello, /x")[0].endswith(b"\r\n\r\n")


# -- the handshake on the loop -----------------------------------------------------------------


@pytest.mark.parametrize("sends", [b"", b"\x16\x03\x01\x02\x00\x01"], ids=["nothing", "half-hello"])
def test_stalled_handshake_is_closed_by_the_header_timeout(
    serve_tls: Any, certs: Certs, sends: bytes
) -> None:
    with (
        serve_tls(hello, certs, header_timeout=0.5, idle_timeout=60) as srv,
        socket.create_connection((srv.host, srv.port), timeout=20) as sock,
    ):
        sock.sendall(sends)
        assert sock.recv(100) == b""  # closed after 0.5 s (the idle timeout is 60 s)


def test_handshake_then_silence_is_closed_by_the_header_timeout(
    serve_tls: Any, certs: Certs
) -> None:
    with (
        serve_tls(hello, certs, header_timeout=0.5, idle_timeout=60) as srv,
        srv.tls_connect(timeout=20) as sock,
    ):
        # The first request's head is due 0.5 s after connecting: a 408, then the close.
        assert read_all(sock).startswith(b"HTTP/1.1 408 ")


def test_handshake_flight_bigger_than_the_socket_buffers_goes_on_as_the_client_reads(
    serve_tls: Any, certs: Certs
) -> None:
    """The loop waits to write (SSLWantWrite) and goes on with the handshake when it can."""
    tls = TLSConfig(certfile=str(certs.big_cert), keyfile=str(certs.big_key))
    with serve_tls(hello, certs, tls=tls) as srv:
        for listener, _ in srv.server.listeners.values():  # accepted sockets inherit it
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
        raw.settimeout(10)
        raw.connect((srv.host, srv.port))
        with client_context(certs).wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(GET_CLOSE)
            assert body_of(read_all(sock)) == b"Hello, /x"


def test_stalled_handshakes_hold_no_thread(certs: Certs) -> None:
    with tls_running(hello, certs, threads=1) as srv:
        stalled = [socket.create_connection((srv.host, srv.port)) for _ in range(3)]
        try:
            assert body_of(srv.request(GET_CLOSE)) == b"Hello, /x"
        finally:
            for sock in stalled:
                sock.close()


def test_plain_http_on_a_tls_port_gets_a_plain_400_and_a_log_line(
    serve_tls: Any, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "wsgikit.error")
    with (
        serve_tls(hello, certs) as srv,
        socket.create_connection((srv.host, srv.port), timeout=10) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: plain-http-on-a-tls-port\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert wait_for(lambda: "TLS handshake with 127.0.0.1 failed" in caplog.text)


def test_a_broken_client_hello_is_logged_and_closed(
    serve_tls: Any, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "wsgikit.error")
    with (
        serve_tls(hello, certs) as srv,
        socket.create_connection((srv.host, srv.port), timeout=10) as sock,
    ):
        sock.sendall(b"\x16\x03\x01\x00\x05hello")  # a handshake record that is no ClientHello
        assert not read_all(sock).startswith(b"HTTP")  # a TLS alert at most
        assert wait_for(lambda: "TLS handshake with 127.0.0.1 failed" in caplog.text)


# -- client certificates -------------------------------------------------------------------------


def test_client_certificate_subject_in_environ(serve_tls: Any, certs: Certs) -> None:
    config = certs.config(ca_certs=str(certs.ca), client_cert="required")
    with serve_tls(tls_vars, certs, tls=config) as srv:
        got = json.loads(body_of(srv.request(GET_CLOSE)))
    assert got["SSL_CLIENT_S_DN"] == CLIENT_DN
    assert got["SSL_CLIENT_VERIFY"] == "SUCCESS"


def test_required_client_certificate_refuses_a_client_without_one(
    serve_tls: Any, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "wsgikit.error")
    config = certs.config(ca_certs=str(certs.ca), client_cert="required")
    with serve_tls(hello, certs, tls=config) as srv:
        # TLS 1.3: the client's handshake ends before the server checks; the refusal comes
        # as an alert (SSLError) or a reset on the next read, never as an answer.
        with srv.tls_connect(ctx=client_context(certs)) as sock:
            try:
                sock.sendall(GET_CLOSE)
                answer = read_all(sock)
            except (ssl.SSLError, ConnectionError):
                answer = b""
        assert answer == b""
        assert wait_for(lambda: "CERTIFICATE" in caplog.text)


def test_optional_client_certificate_lets_a_client_without_one_in(
    serve_tls: Any, certs: Certs
) -> None:
    config = certs.config(ca_certs=str(certs.ca), client_cert="optional")
    with serve_tls(tls_vars, certs, tls=config) as srv:
        with srv.tls_connect(ctx=client_context(certs)) as sock:
            sock.sendall(GET_CLOSE)
            got = json.loads(body_of(read_all(sock)))
    assert got["SSL_CLIENT_VERIFY"] == "NONE"
    assert got["SSL_CLIENT_S_DN"] is None


def test_distinguished_name_escapes_as_rfc4514() -> None:
    subject = ((("countryName", "DE"),), (("commonName", "Doe, Jane+x"),))
    assert distinguished_name(subject) == "CN=Doe\\, Jane\\+x,C=DE"


# -- reads and writes through OpenSSL ------------------------------------------------------------


def test_pipelined_requests_in_one_tls_record(serve_tls: Any, certs: Certs) -> None:
    requests = b"".join(b"GET /%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % i for i in range(40))
    assert len(requests) < 16384  # one sendall, one record
    with serve_tls(hello, certs) as srv, srv.tls_connect() as sock:
        sock.sendall(requests)
        answers = [body_of(recv_response(sock)) for _ in range(40)]
    assert answers == [b"Hello, /%d" % i for i in range(40)]


def test_recv_empties_what_openssl_decrypted(certs: Certs) -> None:
    """A read smaller than the record still takes all of it: epoll never reports those bytes."""
    server_side, client_side = socket.socketpair()
    tls = certs.config().wrap(server_side, {})
    tls.setblocking(False)
    client = client_context(certs).wrap_socket(
        client_side, server_hostname="localhost", do_handshake_on_connect=False
    )
    thread = threading.Thread(target=lambda: client.sendall(b"x" * 1000))
    thread.start()
    got = b""
    for _ in range(1000):  # at most 10 s: the handshake, then the record, are on their way
        try:
            got = tls.recv(10)
            break
        except BlockingIOError:
            time.sleep(0.01)
    thread.join()
    assert got == b"x" * 1000
    assert tls.pending() == 0
    tls.close()
    client.close()


def test_connection_close_ends_with_close_notify(serve_tls: Any, certs: Certs) -> None:
    """Not a bare TCP close: a strict client (no ragged EOFs) reads a clean end."""
    with serve_tls(hello, certs) as srv:
        raw = socket.create_connection((srv.host, srv.port), timeout=10)
        ctx = client_context(certs)
        with ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as sock:
            sock.sendall(GET_CLOSE)
            data = b""
            while more := sock.recv(65536):  # SSLEOFError without close_notify
                data += more
    assert body_of(data) == b"Hello, /x"


def test_keep_alive_over_tls(serve_tls: Any, certs: Certs) -> None:
    with serve_tls(hello, certs) as srv, srv.tls_connect() as sock:
        for i in range(5):
            sock.sendall(b"GET /%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % i)
            assert body_of(recv_response(sock)) == b"Hello, /%d" % i


def big_download(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return (bytes([i % 256]) * 65536 for i in range(300))  # 19.7 MB, chunked


def test_big_streamed_download_over_tls(serve_tls: Any, certs: Certs) -> None:
    expected = hashlib.sha256(b"".join(bytes([i % 256]) * 65536 for i in range(300))).hexdigest()
    with serve_tls(big_download, certs) as srv:
        data = fetch(srv, certs)[1]
    assert hashlib.sha256(data).hexdigest() == expected


def test_one_big_body_part_goes_out_in_capped_writes(serve_tls: Any, certs: Certs) -> None:
    body = bytes(range(256)) * 40_000  # 10 MB in one part: many writes of at most 256 KiB

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]

    with serve_tls(app, certs) as srv:
        assert fetch(srv, certs)[1] == body


def test_big_upload_echoed_over_tls(serve_tls: Any, certs: Certs) -> None:
    body = bytes(range(256)) * 20_000  # 5 MB up and down
    with serve_tls(echo, certs) as srv:
        assert fetch(srv, certs, "POST", body)[1] == body


def test_file_wrapper_goes_through_tls_without_sendfile(
    serve_tls: Any, certs: Certs, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 12_000  # 3 MB: more than write_buffer, so inline pauses
    path = tmp_path / "file.bin"
    path.write_bytes(data)

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](path.open("rb"))

    with serve_tls(app, certs, write_buffer=65536, validate=False) as srv:  # a FileWrapper
        response, got = fetch(srv, certs)
    assert response.getheader("Content-Length") == str(len(data))
    assert got == data


# -- certificate reload --------------------------------------------------------------------------


def peer_cn(srv: Any) -> str:
    with srv.tls_connect() as sock:
        subject = dict(rdn[0] for rdn in sock.getpeercert()["subject"])
    return str(subject["commonName"])


def test_reload_tls_serves_the_new_certificate_and_keeps_open_connections(
    certs: Certs, tmp_path: Path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(certs.cert, cert)
    shutil.copy(certs.key, key)
    with tls_running(hello, certs, tls=TLSConfig(certfile=str(cert), keyfile=str(key))) as srv:
        assert peer_cn(srv) == "localhost"
        with srv.tls_connect() as old:
            old.sendall(GET)
            assert body_of(recv_response(old)) == b"Hello, /x"
            shutil.copy(certs.other_cert, cert)
            shutil.copy(certs.other_key, key)
            srv.server.reload_tls()
            assert peer_cn(srv) == "reloaded"
            old.sendall(GET)  # the connection from before the reload goes on
            assert body_of(recv_response(old)) == b"Hello, /x"


def test_reload_tls_with_a_bad_key_keeps_the_old_certificate(certs: Certs, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(certs.cert, cert)
    shutil.copy(certs.key, key)
    with tls_running(hello, certs, tls=TLSConfig(certfile=str(cert), keyfile=str(key))) as srv:
        shutil.copy(certs.stray_key, key)
        with pytest.raises(TLSError, match="does not match"):
            srv.server.reload_tls()
        assert peer_cn(srv) == "localhost"


# -- bad files and options -----------------------------------------------------------------------


def test_missing_certfile_is_named(certs: Certs) -> None:
    with pytest.raises(TLSError, match=r"certfile /nonexistent\.pem: No such file"):
        TLSConfig(certfile="/nonexistent.pem", keyfile=str(certs.key))


def test_key_not_matching_the_certificate(certs: Certs) -> None:
    with pytest.raises(TLSError, match="does not match the certificate"):
        TLSConfig(certfile=str(certs.cert), keyfile=str(certs.stray_key))


def test_a_key_given_as_certificate(certs: Certs) -> None:
    with pytest.raises(TLSError, match="not a PEM certificate"):
        TLSConfig(certfile=str(certs.key), keyfile=str(certs.key))


def test_client_certificates_need_a_ca(certs: Certs) -> None:
    with pytest.raises(TLSError, match="ca_certs"):
        certs.config(client_cert="required")


def test_ciphers_choose_the_tls12_cipher(serve_tls: Any, certs: Certs) -> None:
    cipher = "ECDHE-ECDSA-CHACHA20-POLY1305"
    ctx = client_context(certs)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with serve_tls(cipher_app, certs, tls=certs.config(ciphers=cipher)) as srv:
        with srv.tls_connect(ctx=ctx) as sock:
            sock.sendall(GET_CLOSE)
            got = json.loads(body_of(read_all(sock)))
    assert got == {"SSL_PROTOCOL": "TLSv1.2", "SSL_CIPHER": cipher}


def cipher_app(environ: Any, start_response: Any) -> list[bytes]:
    body = json.dumps({k: environ[k] for k in ("SSL_PROTOCOL", "SSL_CIPHER")}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def test_tls13_minimum_refuses_a_tls12_client(serve_tls: Any, certs: Certs) -> None:
    ctx = client_context(certs)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with serve_tls(hello, certs, tls=certs.config(min_version="1.3")) as srv:
        with pytest.raises(ssl.SSLError):
            srv.tls_connect(ctx=ctx)
