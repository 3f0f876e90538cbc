"""``wsgikit serve`` with TLS: the flags, one clear line for a bad file, the https banner, and
plain-HTTP listeners that redirect to HTTPS (``--redirect-https``)."""

from __future__ import annotations

import contextlib
import http.client
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.apps import hello
from tests.servers.helpers import read_all, running
from tests.servers.tls_helpers import Certs, client_context
from wsgikit.cli import main

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.servers.apps:hello"


def serve_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["serve", APP, "--bind", "127.0.0.1:0", *argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--certfile", "/nonexistent/cert.pem"], "certfile /nonexistent/cert.pem: No such file"),
        (["--certfile", "{cert}", "--keyfile", "{stray}"], "does not match the certificate"),
        (["--certfile", "{key}"], "not a PEM certificate"),
        (["--keyfile", "{key}"], "--keyfile needs --certfile"),
        (["--certfile", "{cert}", "--keyfile", "{key}", "--client-cert", "required"], "ca_certs"),
        (["--certfile", "{cert}", "--keyfile", "{key}", "--ciphers", "NOPE"], "no cipher"),
    ],
    ids=["missing", "mismatch", "not-pem", "key-alone", "no-ca", "ciphers"],
)
def test_bad_tls_settings_are_one_line_and_a_failure(
    capsys: pytest.CaptureFixture[str], certs: Certs, argv: list[str], says: str
) -> None:
    paths = {"cert": certs.cert, "key": certs.key, "stray": certs.stray_key}
    code, err = serve_cli(capsys, *(arg.format(**paths) for arg in argv))
    assert code != 0
    assert says in err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err


def test_help_documents_the_tls_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--certfile", "--keyfile", "--ca-certs", "--client-cert", "--tls-min-version"):
        assert flag in out
    assert "--ciphers" in out
    assert "--redirect-https" in out


PREFIX = f"Serving {APP} on https://127.0.0.1:"


@contextlib.contextmanager
def serving_https(certs: Certs, *extra: str) -> Iterator[str]:
    """``wsgikit serve`` with the test certificate as a subprocess; yields the https port."""
    with serving_banner(certs, *extra) as banner:
        yield banner[len(PREFIX) :].split(",")[0]


@contextlib.contextmanager
def serving_banner(certs: Certs, *extra: str) -> Iterator[str]:
    """The same, yielding the line it printed first (where it serves)."""
    argv = ["serve", APP, "--bind", "127.0.0.1:0", "--certfile", str(certs.cert)]
    argv += ["--keyfile", str(certs.key), *extra]
    with subprocess.Popen(
        [sys.executable, "-m", "wsgikit", *argv], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            banner = proc.stdout.readline().strip()
            assert banner.startswith(PREFIX), banner
            yield banner
            assert proc.poll() is None  # still serving: no worker died at boot, say
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)


def curl(certs: Certs, url: str, *extra: str) -> bytes:
    command = ["curl", "-sS", *extra, "--cacert", str(certs.ca), url]
    return subprocess.run(command, capture_output=True, timeout=30, check=True).stdout


def test_serve_with_certfile_speaks_https(certs: Certs) -> None:
    with serving_https(certs, "--tls-min-version", "1.3") as port:
        assert curl(certs, f"https://localhost:{port}/tls") == b"Hello, /tls"


# -- redirects -----------------------------------------------------------------------------------


def plain_request(port: int, method: str, target: str, host: str | None = "example.org") -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest(method, target, skip_host=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.putheader("Content-Length", "0")
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response
    finally:
        conn.close()


@pytest.fixture
def redirecting(certs: Certs) -> Any:
    with running(hello, tls=certs.config(), redirect_https=["127.0.0.1:0"]) as srv:
        srv.plain_port = srv.server.addresses[1][1]
        yield srv


@pytest.mark.parametrize(("method", "status"), [("GET", 301), ("HEAD", 301), ("POST", 308)])
def test_redirect_listener_sends_to_https(redirecting: Any, method: str, status: int) -> None:
    response = plain_request(redirecting.plain_port, method, "/a/b?c=d")
    assert response.status == status
    location = f"https://example.org:{redirecting.port}/a/b?c=d"
    assert response.getheader("Location") == location


def test_redirect_keeps_the_host_name_and_drops_its_port(redirecting: Any) -> None:
    response = plain_request(redirecting.plain_port, "GET", "/", host="example.org:8080")
    assert response.getheader("Location") == f"https://example.org:{redirecting.port}/"


@pytest.mark.parametrize("host", [b"Host: caf%C3%A9.example\r\n", b""], ids=["encoded", "none"])
def test_redirect_without_a_plain_host_name_names_the_server(redirecting: Any, host: bytes) -> None:
    with socket.create_connection(("127.0.0.1", redirecting.plain_port), timeout=5) as sock:
        sock.sendall(b"GET /x HTTP/1.0\r\n" + host + b"\r\n")
        head = read_all(sock).split(b"\r\n\r\n")[0]
    assert f"\r\nLocation: https://127.0.0.1:{redirecting.port}/x\r\n".encode() in head


def test_redirect_to_443_names_no_port(certs: Certs) -> None:
    options = {"redirect_https": ["127.0.0.1:0"], "https_port": 443}
    with running(hello, tls=certs.config(), **options) as srv:
        response = plain_request(srv.server.addresses[1][1], "GET", "/x")
    assert response.getheader("Location") == "https://example.org/x"


def test_curl_follows_the_redirect_to_the_app(redirecting: Any, certs: Certs) -> None:
    url = f"http://localhost:{redirecting.plain_port}/followed"
    assert curl(certs, url, "-L") == b"Hello, /followed"


def test_the_tls_port_beside_a_redirect_serves_the_app(redirecting: Any, certs: Certs) -> None:
    ctx = client_context(certs)
    conn = http.client.HTTPSConnection("localhost", redirecting.port, timeout=5, context=ctx)
    try:
        conn.request("GET", "/app")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"Hello, /app")
    finally:
        conn.close()


def test_redirect_without_tls_needs_a_port() -> None:
    with pytest.raises(ValueError, match="https_port"):
        running(hello, redirect_https=["127.0.0.1:0"]).__enter__()


def test_workers_serve_https_and_share_the_redirect_listener(certs: Certs) -> None:
    # The manager binds the redirect listener once with the others; each worker took it off the
    # end of its binds (bound in every worker, the second one failed with EADDRINUSE).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        plain = probe.getsockname()[1]
    with serving_https(certs, "--workers", "2", "--redirect-https", f"127.0.0.1:{plain}") as port:
        for _ in range(6):  # several connections: both workers answer
            follow = ["-L", "--retry", "5", "--retry-connrefused"]
            assert curl(certs, f"http://localhost:{plain}/w", *follow) == b"Hello, /w"
        assert curl(certs, f"https://localhost:{port}/w") == b"Hello, /w"


@pytest.mark.parametrize("workers", [(), ("--workers", "2")], ids=["one-process", "manager"])
def test_the_banner_names_a_redirect_listener_http(certs: Certs, workers: tuple[str, ...]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        plain = probe.getsockname()[1]
    redirect = ("--redirect-https", f"127.0.0.1:{plain}")
    with serving_banner(certs, *workers, *redirect) as banner:
        assert banner.endswith(f", http://127.0.0.1:{plain}"), banner  # it speaks plain HTTP
