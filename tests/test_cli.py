"""The wsgikit command line: check, serve, --print-config, errors as one line with exit status 2."""

from __future__ import annotations

import http.client
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wsgikit import __version__
from wsgikit._compiled import describe
from wsgikit.cli import COMMANDS, main

APPS = """
import time

def app(environ, start_response):
    if environ["PATH_INFO"] != "/":
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        return [b"not found"]
    stream, size = environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0)
    body = stream.read(size) if size else stream.read()  # wsgi.input_terminated: chunked too
    text = b"posted %d bytes" % len(body) if body else b"hello"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(text)))])
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [text]

def bytes_status(environ, start_response):
    start_response(b"200 OK", [("Content-Type", "text/plain")])
    return [b"x"]

def wrong_length(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
    return [b"short"]

def raises(environ, start_response):
    raise ValueError("boom")

def head_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]

def server_error(environ, start_response):
    start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
    return [b"oops"]

def slow(environ, start_response):
    print("in the app", flush=True)
    time.sleep(1)  # the test's SIGINT comes meanwhile: the server lets this finish
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"late"]

def stuck(environ, start_response):
    print("stuck in the app", flush=True)
    time.sleep(60)  # only a second SIGINT gets the server out in time
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"never"]

def swallows(environ, start_response):
    try:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
    except AssertionError:
        start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fine?"]
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder with wk_cli_apps.py as the cwd; sys.path, cwd and sys.modules restored after."""
    (tmp_path / "wk_cli_apps.py").write_text(textwrap.dedent(APPS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [n for n in os.environ if n.startswith("WSGIKIT_")]:
        monkeypatch.delenv(name)
    yield tmp_path
    sys.modules.pop("wk_cli_apps", None)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- the command line itself ---------------------------------------------------------------------


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "check" in out
    assert "serve" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version")[:2] == (0, f"wsgikit {__version__} ({describe()})\n")


def test_no_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2
    assert "required: COMMAND" in err


def test_every_subcommand_is_declared_in_the_registry() -> None:
    assert {"check", "serve"} <= set(COMMANDS)
    for command in COMMANDS.values():  # all but compress, which works on a directory
        assert command.name == "compress" or "app" in {s.name for s in command.settings}


# --- check ---------------------------------------------------------------------------------------


def test_check_passes_a_correct_app(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "wk_cli_apps:app")
    assert out.splitlines() == [
        "GET / -> 200 OK",
        "HEAD / -> 200 OK",
        "POST / 0 B Content-Length -> 200 OK",
        "POST / 0 B chunked -> 200 OK",
        "POST / 1 kB Content-Length -> 200 OK (read all)",
        "POST / 1 kB chunked -> 200 OK (read all)",
        "POST / 100 kB Content-Length -> 200 OK (read all)",
        "POST / 100 kB chunked -> 200 OK (read all)",
        "POST / 1 MB Content-Length -> 200 OK (read all)",
        "POST / 1 MB chunked -> 200 OK (read all)",
        "/: 10 requests, no problems",
        "GET /wsgikit-check/no-such-page -> 404 Not Found",
        "wk_cli_apps:app: no problems found",
    ]
    assert code == 0


@pytest.mark.parametrize(
    ("app", "rule"),
    [
        pytest.param(
            "bytes_status", "problem: PEP 3333 (The start_response() Callable):", id="status"
        ),
        pytest.param(
            "wrong_length",
            "problem: RFC 9110 §8.6: Content-Length says 10 but 5 body bytes were sent",
            id="content-length",
        ),
        pytest.param(
            "raises", "problem: the app raised ValueError: boom (wk_cli_apps.py, line", id="raises"
        ),
        pytest.param(
            "server_error",
            "problem: 500 Internal Server Error: a server error on a simple request",
            id="server-error",
        ),
        pytest.param(
            "swallows", "problem: PEP 3333 (Other HTTP Features): hop-by-hop", id="swallowed"
        ),
    ],
)
def test_check_reports_a_broken_app(
    site: Path, capsys: pytest.CaptureFixture[str], app: str, rule: str
) -> None:
    code, out, _ = run(capsys, "check", f"wk_cli_apps:{app}")
    assert rule in out
    assert out.splitlines()[-1].endswith("problems found")
    assert code == 1


def test_check_notes_a_head_body_without_failing(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "check", "wk_cli_apps:head_body")
    assert "  note: HEAD response has a body (5 bytes): servers drop it" in out
    assert code == 0


def test_check_with_chdir(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (site / "elsewhere").mkdir()
    (site / "wk_cli_apps.py").rename(site / "elsewhere" / "wk_cli_apps.py")
    code, _, err = run(capsys, "check", "--chdir", "elsewhere", "wk_cli_apps:app")
    assert (code, err) == (0, "")


def test_check_with_pythonpath(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (site / "lib").mkdir()
    (site / "wk_cli_apps.py").rename(site / "lib" / "wk_cli_apps.py")
    code, _, err = run(capsys, "check", "--pythonpath", "lib", "wk_cli_apps:app")
    assert (code, err) == (0, "")


def test_load_error_is_one_line_with_status_2(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "check", "wk_cli_apps:create_app(debug=x)")
    assert code == 2
    assert out == ""
    assert err == (
        "wsgikit check: error: cannot load 'wk_cli_apps:create_app(debug=x)': argument debug=x "
        "is not a literal (only literals are allowed)\n"
    )


def test_missing_app_is_an_error(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check")
    assert code == 2
    assert err.startswith("wsgikit check: error: no app given: pass SPEC, set WSGIKIT_APP")


def test_app_from_environment(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WSGIKIT_APP", "wk_cli_apps:app")
    assert run(capsys, "check")[0] == 0


# --- serve ---------------------------------------------------------------------------------------


def test_print_config_shows_values_and_sources(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (site / "wsgikit.toml").write_text("[serve]\naccess_log = false\n")
    monkeypatch.setenv("WSGIKIT_CHDIR", "/srv")
    code, out, _ = run(
        capsys,
        "serve",
        "a:b",
        "--bind",
        "0.0.0.0:9000",
        "--config",
        "wsgikit.toml",
        "--print-config",
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[:5] == [
        "# config file: wsgikit.toml",
        'app = "a:b"  # command line',
        'chdir = "/srv"  # WSGIKIT_CHDIR',
        "pythonpath = []  # default",
        'bind = ["0.0.0.0:9000"]  # --bind',
    ]
    assert "access_log = false  # wsgikit.toml [serve]" in lines
    assert "threads = 8  # default" in lines
    assert 'write_buffer = "1MiB"  # default' in lines
    assert "buffer_bodies = true  # default" in lines


@pytest.mark.parametrize("origin", ["flag", "env", "file"])
def test_print_config_redacts_the_ajp_secret(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, origin: str
) -> None:
    argv = ["ajp", "a:b", "--print-config"]
    if origin == "flag":
        argv += ["--secret", "hunter2"]
    elif origin == "env":
        monkeypatch.setenv("WSGIKIT_SECRET", "hunter2")
    else:
        (site / "wsgikit.toml").write_text('[ajp]\nsecret = "hunter2"\n')
        argv += ["--config", "wsgikit.toml"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert "hunter2" not in out
    (line,) = [line for line in out.splitlines() if line.startswith("secret = ")]
    assert line.startswith("secret = ***  # "), line


def test_a_secret_of_the_wrong_type_is_not_repeated_in_the_error(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (site / "wsgikit.toml").write_text("[ajp]\nsecret = 7321.7321\n")  # a float, not a string
    code, _, err = run(capsys, "ajp", "a:b", "--config", "wsgikit.toml", "--print-config")
    assert code == 2
    assert "secret" in err and "7321.7321" not in err, err


@pytest.mark.parametrize("command", ["serve", "fcgi", "scgi"])
def test_print_config_shows_that_inline_mode_always_buffers_bodies(
    site: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv = [command, "a:b", "--threads", "0", "--no-buffer-bodies", "--print-config"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    [line] = [line for line in out.splitlines() if line.startswith("buffer_bodies")]
    assert line.startswith("buffer_bodies = true  # --buffer-bodies, overruled: inline mode")


def test_print_config_keeps_streaming_bodies_with_threads(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "serve", "a:b", "--no-buffer-bodies", "--print-config")
    assert code == 0
    assert "buffer_bodies = false  # --buffer-bodies" in out.splitlines()


def test_print_config_does_not_load_the_app(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "serve", "wk_no_such_module:app", "--print-config")[0] == 0


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        pytest.param(
            ["--bind", "nowhere"],
            {},
            "wsgikit serve: error: --bind='nowhere': expected HOST:PORT",
            id="cli",
        ),
        pytest.param(
            ["--write-buffer", "lots"],
            {},
            "wsgikit serve: error: --write-buffer='lots': ",
            id="size",
        ),
        pytest.param(
            [],
            {"WSGIKIT_ACCESS_LOG": "maybe"},
            "wsgikit serve: error: WSGIKIT_ACCESS_LOG='maybe': expected a boolean",
            id="env",
        ),
        pytest.param(
            ["--config", "nope.toml"],
            {},
            "wsgikit serve: error: --config='nope.toml': cannot read config file",
            id="config",
        ),
    ],
)
@pytest.mark.usefixtures("site")
def test_settings_error_is_one_line_with_status_2(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    expected: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "serve", "wk_cli_apps:app", "--print-config", *argv)
    assert code == 2
    assert err.startswith(expected)
    assert err.count("\n") == 1


def test_unknown_key_in_config_file(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (site / "wsgikit.toml").write_text("[serve]\nbnid = '0.0.0.0:80'\n")
    code, _, err = run(capsys, "serve", "x:app", "--config", "wsgikit.toml")
    assert code == 2
    assert err == (
        "wsgikit serve: error: wsgikit.toml [serve]: unknown setting 'bnid' "
        "(did you mean 'bind'?)\n"
    )


def test_a_bind_that_cannot_be_opened_exits_1(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "serve", "wk_cli_apps:app", "--bind", "unix:/nonexistent/dir/s")
    assert code == 1
    assert "bind 'unix:/nonexistent/dir/s'" in err


def python_m_wsgikit(*argv: str, cwd: Path) -> subprocess.Popen[str]:
    # A child inherits an ignored SIGINT (e.g. from a background shell job) and Python keeps it
    # ignored; with a handler set here, exec() gives the child the default, so Ctrl-C works.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "wsgikit", *argv],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 8)
    assert ready, "the server printed nothing"
    return proc.stdout.readline().strip()


def start_server(
    site: Path, spec: str, *extra: str, command: str = "serve", scheme: str = "http"
) -> tuple[subprocess.Popen[str], int]:
    """``wsgikit COMMAND SPEC`` on a free port: the process and the port its banner names."""
    proc = python_m_wsgikit(command, spec, "--bind", "127.0.0.1:0", *extra, cwd=site)
    banner = read_line(proc)
    prefix = f"Serving {spec} on {scheme}://127.0.0.1:"
    if not banner.startswith(prefix):
        proc.kill()
        proc.communicate()
        raise AssertionError(f"unexpected banner {banner!r}")
    return proc, int(banner[len(prefix) :])


def test_serve_serves_and_stops_on_ctrl_c(site: Path) -> None:
    proc, port = start_server(site, "wk_cli_apps:app", "--access-log")
    with proc:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                connection.request("GET", "/")
                response = connection.getresponse()
                assert (response.status, response.read()) == (200, b"hello")
            finally:
                connection.close()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=5) == 0
            assert "GET / HTTP/1.1" in proc.communicate()[1]  # the access log, on stderr
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_ctrl_c_during_a_request_lets_it_finish(site: Path) -> None:
    proc, port = start_server(site, "wk_cli_apps:slow")
    with proc:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", "/")
            assert read_line(proc) == "in the app"
            proc.send_signal(signal.SIGINT)
            response = connection.getresponse()  # the in-flight request is answered whole
            assert (response.status, response.read()) == (200, b"late")
            assert proc.wait(timeout=10) == 0
        finally:
            connection.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert "Traceback" not in proc.communicate()[1]


def test_second_ctrl_c_stops_without_waiting(site: Path) -> None:
    proc, port = start_server(site, "wk_cli_apps:stuck")
    with proc:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", "/")
            assert read_line(proc) == "stuck in the app"
            proc.send_signal(signal.SIGINT)
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=5) == 0  # the app still sleeps: nobody waited for it
        finally:
            connection.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_python_m_wsgikit_exits_with_mains_status(site: Path) -> None:
    with python_m_wsgikit("check", "wk_cli_apps:raises", cwd=site) as proc:
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "problem: the app raised ValueError: boom" in out
    assert err == ""


def start_gateway(site: Path, command: str) -> tuple[subprocess.Popen[str], int]:
    return start_server(site, "wk_cli_apps:app", command=command, scheme=command)


def test_fcgi_serves_and_stops_on_ctrl_c(site: Path) -> None:
    from tests.servers.fcgi_client import Client, request

    proc, port = start_gateway(site, "fcgi")
    with proc:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                client = Client(sock)
                client.send(request(1, REQUEST_METHOD="GET", PATH_INFO="/", SERVER_NAME="a"))
                answer = client.response(1)
            assert answer.status == "Status: 200 OK"
            assert answer.stdout.endswith(b"hello")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_scgi_serves_and_stops_on_ctrl_c(site: Path) -> None:
    from wsgikit._scgi import encode_request

    proc, port = start_gateway(site, "scgi")
    with proc:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                headers = [
                    (b"REQUEST_METHOD", b"GET"),
                    (b"PATH_INFO", b"/"),
                    (b"SERVER_NAME", b"a"),
                ]
                sock.sendall(encode_request(headers))
                answer = b""
                while data := sock.recv(65536):
                    answer += data
            assert answer.startswith(b"Status: 200 OK\r\n")
            assert answer.endswith(b"hello")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
