"""ErrorMiddleware and ErrorDocuments with the client's faults (wsgikit.ClientError): the client's
status with a short page, one INFO line, no traceback, nobody notified; directly and over the real
HTTP server with a bad chunk size, a stalled body, a disconnect mid-upload and a body over the
limit."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import pytest

from tests.middleware.errors_helpers import BROWSER, TEXT, Server, get
from tests.servers.helpers import running, wait_for
from wsgikit import ClientError
from wsgikit.middleware.error_documents import ErrorDocuments
from wsgikit.middleware.errors import ErrorMiddleware
from wsgikit.servers.http import Limits
from wsgikit.testing import make_environ
from wsgikit.types import ExcInfo, StartResponse, WSGIApplication, WSGIEnvironment


class Notifier:
    def __init__(self) -> None:
        self.calls: list[ExcInfo] = []

    def __call__(self, exc_info: ExcInfo, environ: WSGIEnvironment) -> None:
        self.calls.append(exc_info)


@pytest.fixture
def notifier() -> Notifier:
    return Notifier()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="wsgikit")
    return caplog


def errors(logs: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in logs.records if r.levelno >= logging.ERROR]


def raising(status: int, *, after_start: bool = False) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if after_start:
            start_response("200 OK", [TEXT, ("Content-Length", "99")])
        raise ClientError(status, "request body timed out")

    return app


def reads_body(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Reads the whole body, as a form handler does."""
    data = environ["wsgi.input"].read()
    start_response("200 OK", [TEXT, ("Content-Length", str(len(data)))])
    return [data]


# --- directly ----------------------------------------------------------------------------------


@pytest.mark.parametrize("after_start", [False, True], ids=["before-start", "after-start"])
def test_client_error_gets_its_status(after_start: bool, notifier: Notifier) -> None:
    result = get(ErrorMiddleware(raising(408, after_start=after_start), notify=notifier))
    assert result.status == "408 Request Timeout"
    assert result.header("Content-Length") == str(len(result.body))


def test_client_error_is_one_info_line_without_traceback(
    logs: pytest.LogCaptureFixture,
) -> None:
    get(ErrorMiddleware(raising(400)), path="/upload")
    mine = [r for r in logs.records if r.name == "wsgikit.error"]
    assert [(r.levelno, r.exc_info) for r in mine] == [(logging.INFO, None)]
    assert "400 Bad Request" in mine[0].getMessage() and "/upload" in mine[0].getMessage()


def test_client_error_notifies_nobody(notifier: Notifier) -> None:
    get(ErrorMiddleware(raising(413), notify=notifier))
    assert notifier.calls == []


def test_client_error_page_is_negotiated() -> None:
    result = get(ErrorMiddleware(raising(413)), headers={"Accept": "application/json"})
    problem = json.loads(result.body)
    assert (problem["status"], problem["title"]) == (413, HTTPStatus(413).phrase)


def test_client_error_page_in_html_names_the_status() -> None:
    result = get(ErrorMiddleware(raising(408), debug=True), headers={"Accept": BROWSER})
    assert result.header("Content-Type") == "text/html; charset=utf-8"
    assert b"<h1>Request Timeout</h1>" in result.body and b"Traceback" not in result.body


def test_client_error_with_a_status_that_is_no_4xx_is_a_400() -> None:
    assert get(ErrorMiddleware(raising(502))).status == "400 Bad Request"


def test_client_error_on_head_has_no_body() -> None:
    result = get(ErrorMiddleware(raising(408)), method="HEAD")
    assert result.status.startswith("408") and result.body == b""


def test_client_error_after_body_bytes_is_passed_up(
    notifier: Notifier, logs: pytest.LogCaptureFixture
) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        yield b"partial"
        raise ClientError(400, "client closed the connection in the middle of the body")

    server = Server()
    with pytest.raises(ClientError):
        server.run(ErrorMiddleware(app, notify=notifier), make_environ())
    assert server.sent == [b"partial"]
    assert (notifier.calls, errors(logs)) == ([], [])


def test_error_documents_keep_the_client_status() -> None:
    def site(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"].startswith("/errors/"):
            start_response("200 OK", [TEXT])
            return [f"document {environ['PATH_INFO']}".encode()]
        raise ClientError(413, "body larger than allowed")

    documents = {400: "/errors/400", 413: "/errors/413", 500: "/errors/500"}
    result = get(ErrorDocuments(ErrorMiddleware(site), documents))
    assert result.status == f"413 {HTTPStatus(413).phrase}"
    assert result.body == b"document /errors/413"


# --- over the real HTTP server -------------------------------------------------------------------

CHUNKED_HEAD = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def length_head(length: int) -> bytes:
    return f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def serve(notifier: Notifier, **options: Any) -> Any:
    """Bodies stream to the app (``buffer_bodies=False``), so that the client's faults happen
    while the app reads; with the default, the server answers them before calling the app."""
    options.setdefault("buffer_bodies", False)
    return running(ErrorMiddleware(reads_body, notify=notifier), validate=False, **options)


def test_server_bad_chunk_size_is_400(notifier: Notifier, logs: pytest.LogCaptureFixture) -> None:
    with serve(notifier) as server:
        answer = server.request(CHUNKED_HEAD + b"5\r\nhello\r\nzz\r\n")
    assert status_of(answer) == 400
    assert (notifier.calls, errors(logs)) == ([], [])


def test_server_stalled_body_is_408(notifier: Notifier, logs: pytest.LogCaptureFixture) -> None:
    with serve(notifier, body_timeout=0.3) as server:
        # Past the 64 KiB the loop reads before the app runs: the app is reading when it stalls.
        answer = server.request(length_head(200_000) + b"x" * 70_000)
    assert status_of(answer) == 408
    assert (notifier.calls, errors(logs)) == ([], [])


def test_server_disconnect_mid_upload(notifier: Notifier, logs: pytest.LogCaptureFixture) -> None:
    reading = threading.Event()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["wsgi.input"].read(10)
        reading.set()
        return reads_body(environ, start_response)

    middleware = ErrorMiddleware(app, notify=notifier)
    with running(middleware, validate=False, buffer_bodies=False) as server:
        with server.connect() as sock:
            sock.sendall(length_head(200_000) + b"x" * 70_000)  # past the 64 KiB prebuffer
            assert reading.wait(5)  # the app is reading the body: now the client goes away
        assert wait_for(lambda: any("client error 400" in r.getMessage() for r in logs.records))
    assert (notifier.calls, errors(logs)) == ([], [])


def test_server_chunked_body_over_the_limit_is_413(
    notifier: Notifier, logs: pytest.LogCaptureFixture
) -> None:
    # A Content-Length over the limit is refused before the app runs; chunks are only counted
    # as they come, so the app is reading when the limit is passed.
    with serve(notifier, limits=Limits(max_body_size=50)) as server:
        answer = server.request(CHUNKED_HEAD + b"40\r\n" + b"x" * 64 + b"\r\n0\r\n\r\n")
    assert status_of(answer) == 413
    assert (notifier.calls, errors(logs)) == ([], [])
