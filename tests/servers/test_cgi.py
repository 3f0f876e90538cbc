"""CGI both ways without a web server: CGIApplication running scripts (run() as the script is in
test_cgi_run.py; both at once at the end here).

Scripts are small sh or Python files written into tmp_path; apps and CGIApplication are checked
with wsgiref.validate on the app side, run() serves validator-wrapped apps on the server side.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.servers.helpers import wait_for
from wsgikit._wsgi_rules import check_headers, check_status
from wsgikit.servers._cgiapp import BadHead, parse_head
from wsgikit.servers.cgi import CGIApplication, CGIError
from wsgikit.testing import Result, call_app, make_environ
from wsgikit.types import WSGIApplication, WSGIEnvironment

MiB = 1024 * 1024
DUMP_ENV = """
import json, os, sys
sys.stdout.write("Content-Type: application/json\\n\\n" + json.dumps(dict(os.environ)))
"""


@pytest.fixture
def script(tmp_path: Path) -> Callable[..., Path]:
    """``script(source)``: an executable file; Python unless the source has its own #! line."""
    count = 0

    def make(source: str) -> Path:
        nonlocal count
        count += 1
        path = tmp_path / f"script{count}.cgi"
        source = textwrap.dedent(source).lstrip("\n")
        if not source.startswith("#!"):
            source = f"#!{sys.executable}\n{source}"
        path.write_text(source)
        path.chmod(0o755)
        return path

    return make


def call(app: WSGIApplication, *, validate: bool = True, **kwargs: Any) -> tuple[Result, str]:
    """Call validator(app) as a strict server; the result and what went to wsgi.errors."""
    errors = io.StringIO()
    environ = kwargs.pop("environ", None) or make_environ(**kwargs)
    environ["wsgi.errors"] = errors
    return call_app(validator(app) if validate else app, environ), errors.getvalue()


def child_env(script: Callable[..., Path], **kwargs: Any) -> dict[str, str]:
    result, _ = call(CGIApplication(script(DUMP_ENV)), **kwargs)
    env: dict[str, str] = json.loads(result.body)
    return env


def gone(pid: int) -> bool:
    """The process exited (a zombie left to init counts: it runs nothing any more)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


# -- CGIApplication: the request side ------------------------------------------------------------


def test_document_response(script: Callable[..., Path]) -> None:
    app = CGIApplication(script("#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello'\n"))
    result, _ = call(app)
    assert (result.status, result.headers, result.body) == (
        "200 OK",
        [("Content-Type", "text/plain")],
        b"hello",
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("GATEWAY_INTERFACE", "CGI/1.1", id="gateway-interface"),
        pytest.param("SCRIPT_NAME", "/cgi", id="script-name"),
        pytest.param("PATH_INFO", "/a/b", id="path-info"),
        pytest.param("QUERY_STRING", "x=1&y", id="query-string"),
        pytest.param("REQUEST_METHOD", "GET", id="method"),
        pytest.param("SERVER_NAME", "localhost", id="server-name"),
        pytest.param("SERVER_PORT", "80", id="server-port"),
        pytest.param("SERVER_PROTOCOL", "HTTP/1.1", id="protocol"),
        pytest.param("REMOTE_ADDR", "127.0.0.1", id="remote-addr"),
        pytest.param("REMOTE_HOST", "127.0.0.1", id="remote-host-falls-back-to-addr"),
        pytest.param("HTTP_X_CUSTOM", "yes", id="http-header"),
        pytest.param("REQUEST_SCHEME", "http", id="scheme"),
    ],
)
def test_meta_variable(script: Callable[..., Path], name: str, expected: str) -> None:
    env = child_env(script, path="/a/b?x=1&y", headers={"X-Custom": "yes"}, SCRIPT_NAME="/cgi")
    assert env[name] == expected


def test_server_software_and_script_filename(script: Callable[..., Path]) -> None:
    path = script(DUMP_ENV)
    result, _ = call(CGIApplication(path))
    env = json.loads(result.body)
    assert env["SERVER_SOFTWARE"].startswith("wsgikit/")
    assert env["SCRIPT_FILENAME"] == str(path)


def test_http_proxy_header_never_reaches_the_script(script: Callable[..., Path]) -> None:
    # httpoxy (CVE-2016-5385): the client's Proxy header must not become proxy configuration.
    env = child_env(script, headers={"Proxy": "http://evil.example:8080"})
    assert "HTTP_PROXY" not in env


def test_https_sets_https_on(script: Callable[..., Path]) -> None:
    assert child_env(script, scheme="https")["HTTPS"] == "on"


def test_server_environment_is_not_leaked(
    script: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WSGIKIT_TEST_SECRET", "s3cret")
    env = child_env(script)
    assert "WSGIKIT_TEST_SECRET" not in env
    assert env["PATH"] == os.environ["PATH"]


def test_env_option_is_passed_and_the_request_wins(script: Callable[..., Path]) -> None:
    app = CGIApplication(script(DUMP_ENV), env={"APP_DB": "/srv/db", "QUERY_STRING": "env"})
    result, _ = call(app, path="/?from=request")
    env = json.loads(result.body)
    assert (env["APP_DB"], env["QUERY_STRING"]) == ("/srv/db", "from=request")


def test_latin1_environ_reaches_the_script_as_the_original_bytes(
    script: Callable[..., Path],
) -> None:
    # PEP 3333: "/café" in UTF-8 arrives as the latin-1 decoding of its bytes.
    path = script("import os, sys\nsys.stdout.buffer.write(b'\\n' + os.environb[b'PATH_INFO'])\n")
    result, _ = call(CGIApplication(path), path="/caf\xc3\xa9")
    assert result.body == "/café".encode()


def test_cwd_defaults_to_the_scripts_directory(script: Callable[..., Path]) -> None:
    path = script("import os\nprint('Content-Type: text/plain\\n\\n' + os.getcwd(), end='')\n")
    result, _ = call(CGIApplication(path))
    assert result.body.decode() == str(path.parent)


def test_cwd_option(script: Callable[..., Path], tmp_path: Path) -> None:
    path = script("import os\nprint('Content-Type: text/plain\\n\\n' + os.getcwd(), end='')\n")
    (tmp_path / "work").mkdir()
    result, _ = call(CGIApplication(path, cwd=tmp_path / "work"))
    assert result.body.decode() == str(tmp_path / "work")


DIGEST = """
import hashlib, os, sys
data = sys.stdin.buffer.read(int(os.environ.get("CONTENT_LENGTH") or 0))
rest = sys.stdin.buffer.read()
sys.stdout.write("Content-Type: text/plain\\n\\n%d %s %d" % (
    len(data), hashlib.sha256(data).hexdigest(), len(rest)))
"""


def test_post_body_is_piped_to_stdin(script: Callable[..., Path]) -> None:
    body = os.urandom(3 * MiB)
    result, _ = call(CGIApplication(script(DIGEST)), method="POST", body=body)
    assert result.body.decode() == f"{len(body)} {hashlib.sha256(body).hexdigest()} 0"


def test_echo_larger_than_the_pipe_buffers_does_not_deadlock(script: Callable[..., Path]) -> None:
    # The script answers while it reads: a gateway that writes all stdin first would block.
    echo = """
    import os, sys
    sys.stdout.buffer.write(b"Content-Type: application/octet-stream\\n\\n")
    left = int(os.environ["CONTENT_LENGTH"])
    while left:
        data = sys.stdin.buffer.read1(min(left, 65536))
        left -= len(data)
        sys.stdout.buffer.write(data)
    """
    body = os.urandom(2 * MiB)
    result, _ = call(CGIApplication(script(echo), timeout=10), method="POST", body=body)
    assert result.body == body


class RecordingInput:
    """wsgi.input that remembers the size of each read."""

    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)
        self.sizes: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.sizes.append(size)
        return self._file.read(size)

    def readline(self, size: int = -1) -> bytes:
        return self._file.readline(size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return self._file.readlines(hint)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._file)


def test_body_is_streamed_in_pieces_not_slurped(script: Callable[..., Path]) -> None:
    body = os.urandom(MiB)
    source = RecordingInput(body)
    environ = make_environ(method="POST", body=body)
    environ["wsgi.input"] = source
    call(CGIApplication(script(DIGEST)), environ=environ)
    assert len(source.sizes) > 1
    assert all(0 < size <= 65536 for size in source.sizes)


def test_body_without_content_length_is_spooled_and_measured(
    script: Callable[..., Path],
) -> None:
    # RFC 3875 §4.2: the script gets CONTENT_LENGTH even when the client sent chunks.
    environ = make_environ(method="POST", body=b"chunked body")
    del environ["CONTENT_LENGTH"]
    result, _ = call(CGIApplication(script(DIGEST)), environ=environ)
    assert result.body.decode() == f"12 {hashlib.sha256(b'chunked body').hexdigest()} 0"


def test_no_body_means_no_content_length(script: Callable[..., Path]) -> None:
    assert "CONTENT_LENGTH" not in child_env(script)


def test_bad_content_length_is_400(script: Callable[..., Path]) -> None:
    # wsgiref.validate would refuse this environ itself: the app alone is under test here.
    app = CGIApplication(script(DIGEST))
    result, errors = call(app, validate=False, method="POST", CONTENT_LENGTH="12x")
    assert result.status_code == 400
    assert "bad CONTENT_LENGTH" in errors


# -- CGIApplication: the script's response -------------------------------------------------------


def answer(head: str, body: str = "") -> str:
    """A Python script printing ``head`` lines, the blank line, then ``body``."""
    text = head.replace("|", "\n") + "\n\n" + body
    return f"import sys\nsys.stdout.write({text!r})\n"


@pytest.mark.parametrize(
    ("head", "status"),
    [
        pytest.param("Status: 404 Not Found|Content-Type: text/plain", "404 Not Found", id="full"),
        pytest.param("Status: 404|Content-Type: text/plain", "404 Not Found", id="no-reason"),
        pytest.param("Status: 299|Content-Type: text/plain", "299 Unknown", id="unknown-code"),
        pytest.param("Content-Type: text/plain", "200 OK", id="document-response"),
    ],
)
def test_status_header(script: Callable[..., Path], head: str, status: str) -> None:
    result, _ = call(CGIApplication(script(answer(head, "x"))))
    assert result.status == status
    assert "Status" not in dict(result.headers)


def test_crlf_header_block(script: Callable[..., Path]) -> None:
    source = "import sys\nsys.stdout.write('Content-Type: text/plain\\r\\nX-A: 1\\r\\n\\r\\nok')\n"
    result, _ = call(CGIApplication(script(source)))
    assert (result.header("x-a"), result.body) == ("1", b"ok")


def test_local_redirect_becomes_302_to_the_path(script: Callable[..., Path]) -> None:
    result, _ = call(CGIApplication(script(answer("Location: /other?x=1"))))
    assert (result.status_code, result.header("location")) == (302, "/other?x=1")


def test_client_redirect_is_302(script: Callable[..., Path]) -> None:
    result, _ = call(CGIApplication(script(answer("Location: https://example.com/x"))))
    assert (result.status_code, result.header("location")) == (302, "https://example.com/x")


def test_client_redirect_with_document_keeps_status_and_body(
    script: Callable[..., Path],
) -> None:
    head = "Status: 301 Moved Permanently|Location: https://example.com/|Content-Type: text/html"
    result, _ = call(CGIApplication(script(answer(head, "<a>moved</a>"))))
    assert (result.status_code, result.body) == (301, b"<a>moved</a>")


def test_missing_content_type_is_octet_stream(script: Callable[..., Path]) -> None:
    result, _ = call(CGIApplication(script(answer("X-A: 1", "data"))))
    assert result.header("content-type") == "application/octet-stream"


def test_204_loses_its_content_type(script: Callable[..., Path]) -> None:
    result, _ = call(CGIApplication(script(answer("Status: 204|Content-Type: text/plain"))))
    assert (result.status, result.header("content-type")) == ("204 No Content", None)


def test_hop_by_hop_headers_are_dropped(script: Callable[..., Path]) -> None:
    head = "Content-Type: text/plain|Connection: close|Keep-Alive: timeout=5|X-Kept: yes"
    result, _ = call(CGIApplication(script(answer(head, "x"))))
    assert result.headers == [("Content-Type", "text/plain"), ("X-Kept", "yes")]


@pytest.mark.parametrize(
    "head",
    [
        pytest.param("Content-Type text/plain", id="no-colon"),
        pytest.param("Bad Name: x", id="name-not-a-token"),
        pytest.param("X-A: a\x01b", id="control-character"),
        pytest.param("Status: abc", id="status-not-a-number"),
        pytest.param("Status: 100 Continue", id="informational-status"),
        pytest.param("Status: 200 OK|Status: 404", id="repeated-status"),
        pytest.param("Location: /a|Location: /b", id="repeated-location"),
        pytest.param("Content-Length: ten", id="bad-content-length"),
        pytest.param("Content-Length: 4|Content-Length: 4", id="repeated-content-length"),
        pytest.param("Transfer-Encoding: chunked", id="transfer-encoding"),
        pytest.param("X-Big: " + "x" * 70000, id="header-block-too-large"),
    ],
)
def test_malformed_header_block_is_502_with_a_log_line(
    script: Callable[..., Path], head: str
) -> None:
    result, errors = call(CGIApplication(script(answer(head, "body"))))
    assert result.status_code == 502
    assert "wsgikit.cgi:" in errors


@settings(max_examples=300)
@given(
    st.lists(
        st.sampled_from(
            [b"Status: 404", b"Location: /x", b"Content-Length: 1", b"X-A: 1", b":", b"\r", b" "]
        )
        | st.binary(),
        max_size=6,
    )
)
def test_parse_head_gives_a_valid_response_head_or_bad_head(pieces: list[bytes]) -> None:
    # Any bytes from a script: a head wsgiref.validate accepts, or BadHead; nothing else.
    block = b"\n".join(pieces)
    try:
        status, headers, _ = parse_head(block)
    except BadHead:
        return
    check_status(status)
    check_headers(headers)
    assert not any(n.lower() in ("status", "transfer-encoding") for n, _ in headers)


def test_script_that_exits_before_its_headers_is_502(script: Callable[..., Path]) -> None:
    result, errors = call(CGIApplication(script("import sys\nsys.stdout.write('X-A: 1')\n")))
    assert result.status_code == 502
    assert "ended before the end of its headers" in errors


def test_exit_status_of_a_failed_script_is_logged(script: Callable[..., Path]) -> None:
    _, errors = call(CGIApplication(script("raise SystemExit(3)\n")))
    assert "exit status 3" in errors


def test_script_that_cannot_start_is_500(script: Callable[..., Path]) -> None:
    result, errors = call(CGIApplication(script("#!/nonexistent/interpreter\n")))
    assert result.status_code == 500
    assert "cannot start" in errors


def test_stderr_goes_to_wsgi_errors(script: Callable[..., Path]) -> None:
    source = "import sys\nsys.stderr.write('warning: disk full\\n')\n" + answer("X-A: 1")
    _, errors = call(CGIApplication(script(source)))
    assert "warning: disk full\n" in errors


def test_nonzero_exit_after_a_response_is_logged(script: Callable[..., Path]) -> None:
    source = answer("Content-Type: text/plain", "done") + "sys.stdout.flush()\nsys.exit(4)\n"
    result, errors = call(CGIApplication(script(source)))
    assert result.body == b"done"
    assert "exit status 4" in errors


# -- CGIApplication: streaming, timeouts and disconnects ----------------------------------------


def start(app: WSGIApplication, environ: WSGIEnvironment | None = None) -> Iterable[bytes]:
    """Call the app and return its (validator-checked) iterable, unconsumed."""
    environ = environ or make_environ()
    environ["wsgi.errors"] = io.StringIO()
    return validator(app)(environ, lambda status, headers, exc_info=None: lambda data: None)


def test_output_is_streamed_as_the_script_writes(
    script: Callable[..., Path], tmp_path: Path
) -> None:
    # The script sends "first", then waits for a file the test creates only after reading it:
    # a gateway that buffered would hand over nothing until the script gave up.
    go = tmp_path / "go"
    source = f"""
    import os, sys, time
    sys.stdout.write("Content-Type: text/plain\\n\\nfirst\\n")
    sys.stdout.flush()
    end = time.monotonic() + 10
    while not os.path.exists({str(go)!r}) and time.monotonic() < end:
        time.sleep(0.01)
    sys.stdout.write("second\\n" if os.path.exists({str(go)!r}) else "gave up\\n")
    """
    result = start(CGIApplication(script(source)))
    try:
        chunks = iter(result)
        assert next(chunks) == b"first\n"
        go.touch()
        assert b"".join(chunks) == b"second\n"
    finally:
        result.close()  # type: ignore[attr-defined]


SLEEPER = """
import os, subprocess, sys, time
with open(sys.argv[0] + ".pids", "w") as f:
    f.write("%d %d" % (os.getpid(), subprocess.Popen(["sleep", "30"]).pid))
{before}
time.sleep(30)
"""


def pids(path: Path) -> list[int]:
    pidfile = Path(f"{path}.pids")
    assert wait_for(pidfile.exists)
    assert wait_for(lambda: len(pidfile.read_text().split()) == 2)
    return [int(pid) for pid in pidfile.read_text().split()]


def test_timeout_before_headers_is_504_and_kills_the_script(
    script: Callable[..., Path],
) -> None:
    path = script(SLEEPER.format(before=""))
    result, errors = call(CGIApplication(path, timeout=2))  # time to start, on a busy machine
    assert result.status_code == 504
    assert "no headers after 2s" in errors
    found = pids(path)
    assert wait_for(lambda: all(gone(pid) for pid in found))


def test_timeout_mid_response_raises_cgi_error(script: Callable[..., Path]) -> None:
    before = "sys.stdout.write('Content-Type: text/plain\\n\\npartial'); sys.stdout.flush()"
    path = script(SLEEPER.format(before=before))
    with pytest.raises(CGIError, match="silent for 2s"):
        call(CGIApplication(path, timeout=2))
    found = pids(path)
    assert wait_for(lambda: all(gone(pid) for pid in found))


def test_close_kills_the_script_and_its_children(script: Callable[..., Path]) -> None:
    # The client went away: the server closes the iterable mid-body.
    before = "sys.stdout.write('Content-Type: text/plain\\n\\npartial'); sys.stdout.flush()"
    path = script(SLEEPER.format(before=before))
    result = start(CGIApplication(path))
    assert next(iter(result)) == b"partial"
    result.close()  # type: ignore[attr-defined]
    assert all(wait_for(functools.partial(gone, pid)) for pid in pids(path))


# -- CGIApplication: arguments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"timeout": 0}, ValueError, id="timeout-zero"),
        pytest.param({"timeout": True}, TypeError, id="timeout-bool"),
        pytest.param({"timeout": "5"}, TypeError, id="timeout-str"),
        pytest.param({"env": {"A": 1}}, TypeError, id="env-value-not-str"),
        pytest.param({"env": ["A=1"]}, TypeError, id="env-not-a-mapping"),
        pytest.param({"env": {"A=B": "1"}}, ValueError, id="env-name-with-equals"),
        pytest.param({"cwd": "/nonexistent/dir"}, ValueError, id="cwd-missing"),
        pytest.param({"cwd": 3}, TypeError, id="cwd-not-a-path"),
    ],
)
def test_bad_arguments(
    script: Callable[..., Path], kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error, match="CGIApplication"):
        CGIApplication(script(DUMP_ENV), **kwargs)


def test_script_must_be_executable(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_text("not a program")
    with pytest.raises(ValueError, match="not an executable file"):
        CGIApplication(path)


def test_script_must_be_a_path() -> None:
    with pytest.raises(TypeError, match="script must be a path"):
        CGIApplication(42)  # type: ignore[arg-type]


# -- both directions at once ---------------------------------------------------------------------


def test_cgi_application_running_a_wsgikit_cgi_script(script: Callable[..., Path]) -> None:
    source = """
    from wsgikit.servers.cgi import run
    def app(environ, start_response):
        body = environ["wsgi.input"].read()
        start_response("201 Created", [("Content-Type", "text/plain"),
                                       ("X-Path", environ["SCRIPT_NAME"] + environ["PATH_INFO"])])
        return [body.upper()]
    run(app)
    """
    app = CGIApplication(script(source))
    result, _ = call(app, path="/item", method="POST", body=b"hello", SCRIPT_NAME="/cgi")
    assert (result.status, result.header("x-path"), result.body) == (
        "201 Created",
        "/cgi/item",
        b"HELLO",
    )
