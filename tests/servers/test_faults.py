"""Apps that raise BaseExceptions (SystemExit, KeyboardInterrupt, GeneratorExit, their own) cost
their request, never a pool thread or the loop: HTTP threaded and inline, FastCGI, SCGI, CGI."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.servers import helpers
from tests.servers.helpers import read_all
from tests.servers.protocols import HTTP, PROTOCOLS, Protocol
from tests.servers.test_cgi_run import CGIProcess
from tests.test_cli import read_line
from wsgikit.servers.http import HTTPConnection, Server


class LibraryExit(BaseException):
    """What a library may raise: a BaseException of its own (gevent, trio and asyncio do)."""


FAULTS = [
    pytest.param(lambda: SystemExit(3), id="SystemExit"),
    pytest.param(KeyboardInterrupt, id="KeyboardInterrupt"),
    pytest.param(GeneratorExit, id="GeneratorExit"),
    pytest.param(LibraryExit, id="own-BaseException"),
]


class Closing:
    """A whole body whose close() raises ``fault``."""

    def __init__(self, fault: BaseException) -> None:
        self.fault = fault

    def __iter__(self) -> Iterator[bytes]:
        yield b"whole"

    def close(self) -> None:
        raise self.fault


def faulty_app(make: Callable[[], BaseException]) -> Any:
    """/before raises before start_response, /after in the middle of the body, /close from the
    iterable's close(); any other path is a plain 200 "fine"."""

    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        where = environ["PATH_INFO"]
        if where == "/before":
            raise make()
        if where == "/after":
            return mid_body(start_response, make)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing(make()) if where == "/close" else [b"fine"]

    return app


def mid_body(start_response: Any, make: Callable[[], BaseException]) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"part"
    raise make()


class Errors(logging.Handler):
    """The ERROR records of ``wsgikit.error`` while it is installed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def errors() -> Iterator[Errors]:
    handler = Errors()
    logger = logging.getLogger("wsgikit.error")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def assert_one_line_with(errors: Errors, make: Callable[[], BaseException]) -> None:
    assert len(errors.records) == 1, [r.getMessage() for r in errors.records]
    exc_info = errors.records[0].exc_info
    assert exc_info is not None
    assert type(exc_info[1]) is type(make())


# -- the event-loop servers: HTTP, FastCGI, SCGI, each threaded and inline ------------------------


# One pool thread: a request that killed it would leave the next one unanswered.
MODES = [pytest.param(1, id="threads"), pytest.param(0, id="inline")]


@pytest.fixture(params=PROTOCOLS)
def faulty(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``with faulty(make, threads) as get:`` serves faulty_app(make); ``get(path)`` answers."""
    protocol: Protocol = request.param

    @contextmanager
    def start(make: Callable[[], BaseException], threads: int) -> Iterator[Any]:
        app = faulty_app(make)
        # Not validated (wsgiref.validate has its own opinion of these apps); and a server
        # whose pool thread died must stop soon enough for the test to report it.
        with helpers.running(
            app,
            validate=False,
            threads=threads,
            shutdown_timeout=2.0,
            server_class=protocol.server_class,
            handle=protocol.handle,
        ) as srv:
            yield lambda path: protocol.get(srv.port, path)

    return start


@pytest.mark.parametrize("threads", MODES)
@pytest.mark.parametrize("make", FAULTS)
def test_fault_before_start_response_is_a_500(
    faulty: Any, threads: int, make: Callable[[], BaseException], errors: Errors
) -> None:
    with faulty(make, threads) as get:
        first = get("/before")
        second = get("/")
    assert (first.status, first.whole) == (500, True)
    assert (second.status, second.body, second.whole) == (200, b"fine", True)
    assert_one_line_with(errors, make)


@pytest.mark.parametrize("threads", MODES)
@pytest.mark.parametrize("make", FAULTS)
def test_fault_mid_body_cuts_the_response(
    faulty: Any, threads: int, make: Callable[[], BaseException], errors: Errors
) -> None:
    with faulty(make, threads) as get:
        first = get("/after")
        second = get("/")
    assert first.status == 200
    assert b"part" in first.body
    assert not first.whole  # the client (or web server) must not take it for the whole
    assert (second.status, second.body, second.whole) == (200, b"fine", True)
    assert_one_line_with(errors, make)


@pytest.mark.parametrize("threads", MODES)
@pytest.mark.parametrize("make", FAULTS)
def test_fault_in_close_keeps_the_response(
    faulty: Any, threads: int, make: Callable[[], BaseException], errors: Errors
) -> None:
    with faulty(make, threads) as get:
        first = get("/close")
        second = get("/")
    assert (first.status, first.whole) == (200, True)
    assert b"whole" in first.body
    assert (second.status, second.body, second.whole) == (200, b"fine", True)
    assert_one_line_with(errors, make)


class Exploding(HTTPConnection):
    """A connection whose first process() raises SystemExit: a bug in server code, not the app."""

    __slots__ = ()
    exploded: list[int] = []

    def process(self) -> None:
        if not self.exploded:
            self.exploded.append(1)
            raise SystemExit("from the server's own code")
        super().process()


class ExplodingServer(Server):
    connection_class = Exploding


def test_a_pool_thread_survives_a_base_exception_from_server_code(errors: Errors) -> None:
    Exploding.exploded.clear()
    app = faulty_app(KeyboardInterrupt)
    with helpers.running(
        app, validate=False, threads=1, shutdown_timeout=2.0, server_class=ExplodingServer
    ) as srv:
        with srv.connect(3) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_all(sock) == b""  # closed: nothing can be said for this connection
        second = HTTP.get(srv.port, "/")
    assert (second.status, second.body) == (200, b"fine")
    assert len(errors.records) == 1
    assert "internal error" in errors.records[0].getMessage()


# -- CGI -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", FAULTS)
def test_cgi_fault_before_start_response_is_a_500(
    make: Callable[[], BaseException], monkeypatch: pytest.MonkeyPatch, errors: Errors
) -> None:
    output = CGIProcess(monkeypatch).run(faulty_app(make), PATH_INFO="/before")
    assert output.startswith(b"Status: 500 ")
    assert_one_line_with(errors, make)


# -- Server.run() in the main thread: Ctrl-C is the user's, the app's KeyboardInterrupt is not ----

MAIN = """
import sys, time
from wsgikit.servers.http import Server

def app(environ, start_response):
    if environ["PATH_INFO"] == "/interrupt":
        raise KeyboardInterrupt("raised by the app")
    if environ["PATH_INFO"] == "/exit":
        sys.exit(3)
    if environ["PATH_INFO"] == "/sleep":
        print("in the app", flush=True)
        time.sleep(30)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fine"]

server = Server(app, ["127.0.0.1:0"], threads=0)
print(server.addresses[0][1], flush=True)
try:
    server.run()
except KeyboardInterrupt as exc:
    print(f"run() raised {type(exc).__name__}{exc.args}", flush=True)
"""


@contextmanager
def main_thread_server(tmp_path: Path) -> Iterator[tuple[Any, int]]:
    script = tmp_path / "main_server.py"
    script.write_text(textwrap.dedent(MAIN))
    # As tests.test_cli.python_m_wsgikit: the child must not inherit an ignored SIGINT.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    with proc:
        try:
            yield proc, int(read_line(proc))
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


@pytest.mark.parametrize("path", ["/interrupt", "/exit"])
def test_main_thread_inline_app_keyboard_interrupt_or_exit_is_a_500(
    tmp_path: Path, path: str
) -> None:
    with main_thread_server(tmp_path) as (proc, port):
        assert HTTP.get(port, path).status == 500
        assert HTTP.get(port, "/").body == b"fine"
        assert proc.poll() is None  # was: the process exited (sys.exit(3): status 3, no log)


def test_main_thread_inline_ctrl_c_still_stops_run(tmp_path: Path) -> None:
    with main_thread_server(tmp_path) as (proc, port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_line(proc) == "in the app"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
            assert read_line(proc) == "run() raised KeyboardInterrupt()"
