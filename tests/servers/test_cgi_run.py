"""wsgikit.servers.cgi.run(): a WSGI app answering one request as a CGI script (RFC 3875), with
its environ, Status line, httpoxy protection and error handling; validator-wrapped apps."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from typing import Any
from wsgiref.validate import validator

import pytest

from wsgikit.servers.cgi import run
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

# -- run(): a WSGI app as the CGI script ----------------------------------------------------------


class CGIProcess:
    """This test process dressed as a CGI request: environment, stdin, stdout, stderr."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        for name in ("CONTENT_LENGTH", "CONTENT_TYPE", "HTTP_PROXY", "HTTPS", "PATH_INFO"):
            monkeypatch.delenv(name, raising=False)
        self.raw = RecordingRaw()

    def run(self, app: WSGIApplication, body: bytes = b"", **env: str | bytes) -> bytes:
        env = {"REQUEST_METHOD": "GET", "SERVER_NAME": "example.org", "SERVER_PORT": "80", **env}
        for name, value in env.items():
            raw = value if isinstance(value, bytes) else value.encode()
            self.monkeypatch.setitem(os.environb, name.encode(), raw)
        self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
        self.stdout = io.TextIOWrapper(io.BufferedWriter(self.raw))
        self.monkeypatch.setattr(sys, "stdout", self.stdout)
        self.stderr = io.StringIO()
        self.monkeypatch.setattr(sys, "stderr", self.stderr)
        run(app)
        return self.raw.data


class RecordingRaw(io.RawIOBase):
    """The bytes that really left the process (past every buffer)."""

    def __init__(self) -> None:
        self.data = b""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.data += bytes(data)
        return len(data)


@pytest.fixture
def cgi(monkeypatch: pytest.MonkeyPatch) -> CGIProcess:
    return CGIProcess(monkeypatch)


def echo_environ(keys: Iterable[str]) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        found = {key: environ.get(key) for key in keys}
        body = b""
        while chunk := environ["wsgi.input"].read(1024):  # validator: read() takes a size
            body += chunk
        found["body"] = body.decode("latin-1")
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(found).encode()]

    return validator(app)


def cgi_body(output: bytes) -> Any:
    return json.loads(output.partition(b"\r\n\r\n")[2])


def test_run_writes_a_cgi_response(cgi: CGIProcess, hello_app: WSGIApplication) -> None:
    assert cgi.run(validator(hello_app)) == (
        b"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    )


@pytest.mark.parametrize(
    ("key", "env", "expected"),
    [
        pytest.param("wsgi.run_once", {}, True, id="run-once"),
        pytest.param("wsgi.multithread", {}, False, id="not-multithread"),
        pytest.param("wsgi.multiprocess", {}, True, id="multiprocess"),
        pytest.param("wsgi.url_scheme", {"HTTPS": "on"}, "https", id="https"),
        pytest.param("SERVER_NAME", {}, "example.org", id="server-name"),
        pytest.param("REQUEST_METHOD", {"REQUEST_METHOD": "PUT"}, "PUT", id="method"),
        pytest.param("SCRIPT_NAME", {"SCRIPT_NAME": "/cgi-bin/app"}, "/cgi-bin/app", id="script"),
        pytest.param("PATH_INFO", {"PATH_INFO": b"/caf\xc3\xa9"}, "/caf\xc3\xa9", id="latin-1"),
        pytest.param("HTTP_PROXY", {"HTTP_PROXY": "http://evil:8080"}, None, id="httpoxy"),
    ],
)
def test_run_environ(cgi: CGIProcess, key: str, env: dict[str, Any], expected: object) -> None:
    assert cgi_body(cgi.run(echo_environ([key]), **env))[key] == expected


def test_run_removes_http_proxy_from_the_process_environment(cgi: CGIProcess) -> None:
    # httpoxy: urllib and requests read HTTP_PROXY from os.environ as their proxy.
    seen = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.append(os.environ.get("HTTP_PROXY"))
        start_response("204 No Content", [])
        return []

    cgi.run(app, HTTP_PROXY="http://evil:8080")
    assert seen == [None]


def test_run_input_stops_at_content_length(cgi: CGIProcess) -> None:
    output = cgi.run(echo_environ([]), body=b"abcdefgh", REQUEST_METHOD="POST", CONTENT_LENGTH="3")
    assert cgi_body(output)["body"] == "abc"


def test_run_input_without_content_length_is_empty(cgi: CGIProcess) -> None:
    assert cgi_body(cgi.run(echo_environ([]), body=b"stray"))["body"] == ""


def test_run_bad_content_length_is_400(cgi: CGIProcess) -> None:
    output = cgi.run(echo_environ([]), REQUEST_METHOD="POST", CONTENT_LENGTH="-1")
    assert output.startswith(b"Status: 400 Bad Request\r\n")


def test_run_head_sends_no_body(cgi: CGIProcess, hello_app: WSGIApplication) -> None:
    assert cgi.run(validator(hello_app), REQUEST_METHOD="HEAD").endswith(b"\r\n\r\n")


def test_run_app_error_is_500_without_the_traceback(
    cgi: CGIProcess, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise RuntimeError("secret detail")

    output = cgi.run(app)
    assert output.startswith(b"Status: 500 Internal Server Error\r\n")
    assert b"secret detail" not in output
    assert any(r.exc_info and "secret detail" in str(r.exc_info[1]) for r in caplog.records)


def test_run_flushes_each_piece_as_the_app_yields_it(cgi: CGIProcess) -> None:
    seen_before_second = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first"
        seen_before_second.append(cgi.raw.data)
        yield b"second"

    cgi.run(validator(app))
    assert seen_before_second[0].endswith(b"\r\n\r\nfirst")


def test_run_print_in_the_app_goes_to_stderr(cgi: CGIProcess) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        print("debugging output")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    output = cgi.run(app)
    assert b"debugging" not in output
    assert "debugging output" in cgi.stderr.getvalue()


def run_cgi_process(code: str, env: dict[bytes, bytes], body: bytes = b"") -> tuple[bytes, bytes]:
    """Run ``code`` as a real CGI process under the C locale; its stdout and stderr."""
    base = {b"PATH": os.environb.get(b"PATH", b"/usr/bin:/bin"), b"LC_ALL": b"C"}
    base |= {b"REQUEST_METHOD": b"GET", b"SERVER_NAME": b"localhost", b"SERVER_PORT": b"80"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**base, **env},
        input=body,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return proc.stdout, proc.stderr


def test_run_in_a_real_process_decodes_environ_bytes_as_latin1() -> None:
    code = """
    from wsgikit.servers.cgi import run
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode("latin-1")]
    run(app)
    """
    stdout, _ = run_cgi_process(code, {b"PATH_INFO": b"/caf\xc3\xa9"})
    assert stdout.endswith(b"\r\n\r\n/caf\xc3\xa9")


def test_run_in_a_real_process_logs_the_traceback_to_stderr() -> None:
    code = """
    from wsgikit.servers.cgi import run
    def app(environ, start_response):
        raise RuntimeError("boom-7d1f")
    run(app)
    """
    stdout, stderr = run_cgi_process(code, {})
    assert stdout.startswith(b"Status: 500 Internal Server Error\r\n")
    assert b"boom-7d1f" not in stdout
    assert b"Traceback" in stderr
    assert b"RuntimeError: boom-7d1f" in stderr
