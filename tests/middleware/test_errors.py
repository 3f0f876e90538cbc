"""ErrorMiddleware: the 500 page (negotiated, with a correct length), errors after the response
started (passed up with exc_info, nothing appended), logging, notify and SMTPNotifier, and the
debug page (structure, escaping, cut reprs, masked secrets, no code execution)."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import logging
import re
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from wsgikit.middleware import errors as errors_module
from wsgikit.middleware.errors import ErrorMiddleware, SMTPNotifier, from_addresses
from wsgikit.testing import Result, call_app, check_middleware, make_environ
from wsgikit.types import ExcInfo, StartResponse, WSGIApplication, WSGIEnvironment

TEXT = ("Content-Type", "text/plain")
# Built at run time: the debug page shows source lines, which must not count as a leak.
RUNTIME_SECRET = "-".join(["hunter2", "runtime"])
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class Boom(Exception):
    """What the test apps raise."""


def fail_before_start(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    raise Boom("failed <early> & loud")


def fail_after_start(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [TEXT, ("Content-Length", "99")])
    raise Boom("failed after start_response")


class Closing:
    """An iterable that records close() and can fail in next() or close()."""

    def __init__(self, chunks: list[bytes], *, fail_at: int = -1, fail_close: bool = False):
        self.chunks, self.fail_at, self.fail_close = chunks, fail_at, fail_close
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_at:
                raise Boom(f"failed at chunk {index}")
            yield chunk
        if self.fail_at == len(self.chunks):
            raise Boom("failed at the end")

    def close(self) -> None:
        self.closed += 1
        if self.fail_close:
            raise Boom("failed in close")


def app_returning(body: Closing) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        return body

    return app


class Server:
    """A server's start_response that records every call; ``strict`` re-raises exc_info once
    body bytes were sent (PEP 3333), a sloppy one does not."""

    def __init__(self, *, strict: bool = True) -> None:
        self.strict = strict
        self.calls: list[tuple[str, list[tuple[str, str]], Any]] = []
        self.sent: list[bytes] = []

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        self.calls.append((status, headers, exc_info))
        if exc_info is not None and self.sent and self.strict:
            raise exc_info[1].with_traceback(exc_info[2])
        return self.sent.append

    def run(self, app: WSGIApplication, environ: WSGIEnvironment | None = None) -> None:
        result = app(environ or make_environ(), self.start_response)
        try:
            for chunk in result:
                if chunk:
                    self.sent.append(chunk)
        finally:
            getattr(result, "close", lambda: None)()


def get(app: WSGIApplication, path: str = "/", **kwargs: Any) -> Result:
    return call_app(app, path=path, **kwargs)


# --- conformance ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="default"),
        pytest.param({"debug": True}, id="debug"),
        pytest.param(
            {"show_details_to": from_addresses("127.0.0.1"), "notify": lambda e, env: None},
            id="show-details-to-and-notify",
        ),
        pytest.param({"logger": logging.getLogger("test.errors")}, id="logger"),
    ],
)
def test_passes_check_middleware(options: dict[str, Any]) -> None:
    check_middleware(ErrorMiddleware, **options)


# --- the 500 page before the response started ------------------------------------------------


@pytest.mark.parametrize(
    "app",
    [
        pytest.param(fail_before_start, id="before-start-response"),
        pytest.param(fail_after_start, id="after-start-response"),
        pytest.param(app_returning(Closing([b"", b"x"], fail_at=1)), id="after-an-empty-chunk"),
        pytest.param(app_returning(Closing([], fail_at=0)), id="first-next"),
    ],
)
def test_error_before_body_gives_500_with_correct_length(app: WSGIApplication) -> None:
    result = get(ErrorMiddleware(app))
    assert result.status == "500 Internal Server Error"
    assert result.header("Content-Length") == str(len(result.body))
    assert b"Internal Server Error" in result.body


def test_500_replaces_the_apps_headers() -> None:
    result = get(ErrorMiddleware(fail_after_start))
    assert result.header("Content-Length") != "99"


def test_500_page_is_not_cached_and_varies_on_accept() -> None:
    result = get(ErrorMiddleware(fail_before_start))
    assert result.header("Cache-Control") == "no-store"
    assert result.header("Vary") == "Accept"


def test_500_passes_exc_info_to_start_response() -> None:
    server = Server()
    server.run(ErrorMiddleware(fail_before_start))
    status, _, exc_info = server.calls[-1]
    assert status.startswith("500") and isinstance(exc_info[1], Boom)


def test_short_page_shows_no_details() -> None:
    result = get(ErrorMiddleware(fail_before_start), headers={"Accept": BROWSER})
    assert b"Boom" not in result.body and b"early" not in result.body


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        pytest.param(None, "text/plain; charset=utf-8", id="no-accept"),
        pytest.param("*/*", "text/plain; charset=utf-8", id="anything"),
        pytest.param(BROWSER, "text/html; charset=utf-8", id="browser"),
        pytest.param("application/json", "application/json", id="json"),
        pytest.param("application/problem+json", "application/problem+json", id="problem-json"),
        pytest.param("text/*;q=0.5, application/json", "application/json", id="q-values"),
        pytest.param("image/png", "text/plain; charset=utf-8", id="nothing-acceptable"),
        pytest.param("text/html;q=x;;", "text/plain; charset=utf-8", id="invalid-header"),
    ],
)
def test_page_is_negotiated_by_accept(accept: str | None, content_type: str) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    result = get(ErrorMiddleware(fail_before_start), headers=headers)
    assert result.header("Content-Type") == content_type


def test_json_page_is_problem_details() -> None:
    result = get(ErrorMiddleware(fail_before_start), headers={"Accept": "application/json"})
    problem = json.loads(result.body)
    assert (problem["status"], problem["title"]) == (500, "Internal Server Error")
    assert "traceback" not in problem


def test_head_gets_headers_of_the_page_and_no_body() -> None:
    get_result = get(ErrorMiddleware(fail_before_start))
    head_result = get(ErrorMiddleware(fail_before_start), method="HEAD")
    assert head_result.body == b""
    assert head_result.header("Content-Length") == get_result.header("Content-Length")


def test_head_drops_written_body() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])(b"written")
        return [b"returned"]

    server = Server()
    server.run(ErrorMiddleware(app), make_environ(method="HEAD"))
    assert server.sent == []


def test_head_runs_a_lazy_app_until_it_starts_the_response() -> None:
    steps: list[str] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        steps.append("called")
        yield b""
        start_response("201 Created", [TEXT])
        steps.append("started")
        yield b"body"
        steps.append("body produced")

    result = get(ErrorMiddleware(app), method="HEAD")
    assert (result.status, result.body, steps) == ("201 Created", b"", ["called", "started"])


def test_head_drops_the_apps_body() -> None:
    body = Closing([b"hello"])
    result = get(ErrorMiddleware(app_returning(body)), method="HEAD")
    assert (result.status, result.body, body.closed) == ("200 OK", b"", 1)


# --- after the response started ----------------------------------------------------------------


def test_error_after_body_started_is_passed_up_with_exc_info() -> None:
    server = Server()
    body = Closing([b"hello ", b"world"], fail_at=1)
    with pytest.raises(Boom):
        server.run(ErrorMiddleware(app_returning(body)))
    assert server.sent == [b"hello "]
    assert isinstance(server.calls[-1][2][1], Boom)


def test_error_after_body_started_appends_nothing_even_on_a_sloppy_server() -> None:
    server = Server(strict=False)
    with pytest.raises(Boom):
        server.run(ErrorMiddleware(app_returning(Closing([b"hello "], fail_at=1))))
    assert server.sent == [b"hello "]


def test_error_after_write_is_passed_up() -> None:
    # The middleware hands write() to the server untouched (no cost per request for it): the
    # server's start_response(..., exc_info) raises, as PEP 3333 requires once data was written.
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])(b"written")
        raise Boom("after write()")

    server = Server()
    with pytest.raises(Boom):
        server.run(ErrorMiddleware(app))
    assert server.sent == [b"written"]


def test_inner_iterable_is_closed_after_an_error() -> None:
    body = Closing([b"a", b"b"], fail_at=1)
    with pytest.raises(Boom):
        get(ErrorMiddleware(app_returning(body)))
    assert body.closed == 1


def test_inner_iterable_is_closed_when_the_caller_stops_early() -> None:
    body = Closing([b"a", b"b", b"c"])
    iterable = ErrorMiddleware(app_returning(body))(make_environ(), Server().start_response)
    assert next(iter(iterable)) == b"a"
    iterable.close()  # type: ignore[attr-defined]
    assert body.closed == 1


def test_error_in_close_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    body = Closing([b"ok"], fail_close=True)
    result = get(ErrorMiddleware(app_returning(body)))
    assert (result.body, body.closed) == (b"ok", 1)
    assert "closing the response" in caplog.text and "failed in close" in caplog.text


def test_list_results_are_returned_as_they_are() -> None:
    body = [b"hello"]

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        return body

    assert ErrorMiddleware(app)(make_environ(), Server().start_response) is body


def test_file_wrapper_results_are_returned_as_they_are() -> None:
    environ = make_environ()
    wrapper_type = environ["wsgi.file_wrapper"]
    with open(__file__, "rb") as file:
        wrapped = wrapper_type(file)

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [TEXT])
            return wrapped  # type: ignore[no-any-return]

        assert ErrorMiddleware(app)(environ, Server().start_response) is wrapped


def test_base_exceptions_are_not_caught() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        get(ErrorMiddleware(app))


# --- logging and notify ------------------------------------------------------------------------


def test_traceback_is_logged_with_the_request_line(caplog: pytest.LogCaptureFixture) -> None:
    get(ErrorMiddleware(fail_before_start), path="/boom", query="x=1")
    (record,) = [r for r in caplog.records if r.name == "wsgikit.error"]
    assert record.levelno == logging.ERROR
    assert "GET /boom?x=1 HTTP/1.1" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], Boom)


def test_given_logger_is_used(caplog: pytest.LogCaptureFixture) -> None:
    get(ErrorMiddleware(fail_before_start, logger=logging.getLogger("my.app")))
    assert [r.name for r in caplog.records] == ["my.app"]


def test_log_line_escapes_control_characters_and_masks_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    get(ErrorMiddleware(fail_before_start), path="/a\nFAKE LINE", query="password=hunter2&q=1")
    message = caplog.records[0].getMessage()
    assert "\n" not in message and "/a\\nFAKE LINE" in message
    assert "hunter2" not in message and "q=1" in message


def test_error_reference_in_page_log_and_environ(caplog: pytest.LogCaptureFixture) -> None:
    environ = make_environ()
    result = call_app(ErrorMiddleware(fail_before_start), environ)
    error_id = environ["wsgikit.error_id"]
    assert error_id.encode() in result.body and error_id in caplog.records[0].getMessage()


def test_notify_gets_exc_info_and_environ() -> None:
    seen: list[tuple[ExcInfo, WSGIEnvironment]] = []
    environ = make_environ()
    call_app(
        ErrorMiddleware(fail_before_start, notify=lambda e, env: seen.append((e, env))), environ
    )
    ((exc_info, notified_environ),) = seen
    assert isinstance(exc_info[1], Boom) and notified_environ is environ


def test_notify_is_called_for_errors_after_the_body_started() -> None:
    seen: list[ExcInfo] = []
    middleware = ErrorMiddleware(
        app_returning(Closing([b"a"], fail_at=1)), notify=lambda e, env: seen.append(e)
    )
    with pytest.raises(Boom):
        get(middleware)
    assert len(seen) == 1


def test_failing_notify_is_logged_and_the_page_still_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def notify(exc_info: ExcInfo, environ: WSGIEnvironment) -> None:
        raise OSError("mail server down")

    result = get(ErrorMiddleware(fail_before_start, notify=notify))
    assert result.status_code == 500
    assert "notify" in caplog.text and "mail server down" in caplog.text


# --- who sees details ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "remote", "shown"),
    [
        pytest.param({}, "127.0.0.1", False, id="default-hides"),
        pytest.param({"debug": True}, "192.0.2.1", True, id="debug-shows-everyone"),
        pytest.param(
            {"show_details_to": from_addresses("127.0.0.1")}, "127.0.0.1", True, id="allowed"
        ),
        pytest.param(
            {"debug": True, "show_details_to": from_addresses("127.0.0.1")},
            "192.0.2.1",
            False,
            id="not-allowed",
        ),
    ],
)
def test_show_details_to_decides_who_sees_the_traceback(
    options: dict[str, Any], remote: str, shown: bool
) -> None:
    result = get(ErrorMiddleware(fail_before_start, **options), REMOTE_ADDR=remote)
    assert (b"Traceback" in result.body) is shown


def test_failing_show_details_to_shows_nothing(caplog: pytest.LogCaptureFixture) -> None:
    def predicate(environ: WSGIEnvironment) -> bool:
        raise RuntimeError("predicate broke")

    result = get(ErrorMiddleware(fail_before_start, debug=True, show_details_to=predicate))
    assert b"Traceback" not in result.body and "predicate broke" in caplog.text


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [
        pytest.param("127.0.0.1", True, id="v4"),
        pytest.param("10.1.2.3", True, id="in-network"),
        pytest.param("::1", True, id="v6"),
        pytest.param("::ffff:127.0.0.1", True, id="v4-mapped"),
        pytest.param("fe80::1%eth0", False, id="scoped-v6-outside"),
        pytest.param("192.0.2.1", False, id="outside"),
        pytest.param("not an address", False, id="garbage"),
        pytest.param("", False, id="missing"),
    ],
)
def test_from_addresses(remote: str, allowed: bool) -> None:
    predicate = from_addresses("127.0.0.1", "::1", "10.0.0.0/8")
    assert predicate(make_environ(REMOTE_ADDR=remote)) is allowed


def test_from_addresses_refuses_a_bad_network() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/99"):
        from_addresses("10.0.0.0/99")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        pytest.param({"debug": "yes"}, "debug", id="debug"),
        pytest.param({"logger": "wsgikit"}, "logger", id="logger"),
        pytest.param({"show_details_to": True}, "show_details_to", id="show-details-to"),
        pytest.param({"notify": "ops@example.com"}, "notify", id="notify"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(TypeError, match=name):
        ErrorMiddleware(fail_before_start, **kwargs)


def test_app_must_be_callable() -> None:
    with pytest.raises(TypeError, match="app"):
        ErrorMiddleware(None)  # type: ignore[arg-type]


# --- the debug page ----------------------------------------------------------------------------


def debug_page(app: WSGIApplication, **kwargs: Any) -> Result:
    headers = kwargs.pop("headers", {})
    return get(ErrorMiddleware(app, debug=True), headers={"Accept": BROWSER, **headers}, **kwargs)


def app_with_locals(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    user_name = "<img src=x onerror=alert(1)>"
    db_password = RUNTIME_SECRET
    huge = "x" * 100_000
    raise Boom(f"no such user {user_name} {db_password is None} {len(huge)}")


def test_debug_page_is_html_with_the_exception_in_the_title() -> None:
    result = debug_page(fail_before_start)
    assert result.header("Content-Type") == "text/html; charset=utf-8"
    assert b"<title>500 Internal Server Error: Boom: failed &lt;early&gt; &amp; loud" in result.body


def test_debug_page_lists_each_frame_with_source_and_the_failing_line() -> None:
    page = debug_page(fail_before_start).body.decode()
    assert page.count('<li class="frame">') == 2  # ErrorMiddleware.__call__, the app
    current = re.findall(r'<li class="current">(.*?)</li>', page)
    assert current[-1].strip() == "raise Boom(&quot;failed &lt;early&gt; &amp; loud&quot;)"


def test_debug_page_shows_locals_escaped() -> None:
    page = debug_page(app_with_locals).body.decode()
    assert "<th>user_name</th>" in page
    assert "&#x27;&lt;img src=x onerror=alert(1)&gt;&#x27;" in page
    assert "<img" not in page


def test_debug_page_cuts_long_reprs() -> None:
    page = debug_page(app_with_locals).body.decode()
    (row,) = re.findall(r"<th>huge</th><td><pre>(.*?)</pre>", page)
    assert len(row) < 1100 and "..." in row and row.endswith("(100000 characters in all)")


def test_debug_page_cuts_long_container_reprs() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        rows = [str(n) * 500 for n in range(50)]
        raise Boom(len(rows))

    page = debug_page(app).body.decode()
    (row,) = re.findall(r"<th>rows</th><td><pre>(.*?)</pre>", page)
    assert len(row) < 1100 and "more characters cut" in row


def test_debug_page_masks_secret_locals() -> None:
    page = debug_page(app_with_locals).body
    assert b"<th>db_password</th>" in page and RUNTIME_SECRET.encode() not in page


def test_debug_page_cuts_a_huge_exception_message() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise Boom("m" * 1_000_000)

    result = debug_page(app)
    assert len(result.body) < 50_000 and b"more characters cut" in result.body


def test_debug_page_survives_a_repr_that_raises() -> None:
    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("repr broke")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        thing = Weird()
        raise Boom(type(thing).__name__)

    page = debug_page(app).body
    assert b"<th>thing</th>" in page and b"repr() raised RuntimeError" in page


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("HTTP_COOKIE", "session=s3cr3t-cookie", id="cookie"),
        pytest.param("HTTP_AUTHORIZATION", "Bearer s3cr3t-bearer", id="authorization"),
        pytest.param("HTTP_X_API_TOKEN", "s3cr3t-token", id="token-header"),
        pytest.param("app.secret_key", "s3cr3t-key", id="secret-setting"),
        pytest.param("DB_PASSWORD", "s3cr3t-password", id="password"),
    ],
)
def test_debug_page_masks_secrets_in_the_environ(key: str, value: str) -> None:
    page = debug_page(fail_before_start, **{key: value}).body.decode()
    assert f"<th>{key}</th>" in page and value not in page


def test_debug_page_masks_secrets_in_dicts_and_header_pairs() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        settings = {"debug": True, "SECRET_KEY": RUNTIME_SECRET}
        headers = [("Set-Cookie", RUNTIME_SECRET), ("Content-Type", "text/plain")]
        raise Boom(f"{len(settings)} {len(headers)}")

    page = debug_page(app).body.decode()
    assert RUNTIME_SECRET not in page
    assert "&#x27;debug&#x27;: True" in page and "&#x27;text/plain&#x27;" in page


def test_debug_page_shows_the_environ_once_not_in_every_frame() -> None:
    page = debug_page(fail_before_start, HTTP_COOKIE="sid=s3cr3t").body.decode()
    rows = re.findall(r"<th>environ</th><td><pre>(.*?)</pre>", page)
    assert len(rows) == 2  # the frames of ErrorMiddleware.__call__ and of the app
    assert all("see &#x27;Request environ&#x27; below" in row for row in rows)
    assert "s3cr3t" not in page


def test_debug_page_masks_secret_query_parameters() -> None:
    page = debug_page(fail_before_start, query="user=ann&access_token=s3cr3t").body
    assert b"user=ann" in page and b"s3cr3t" not in page


def test_debug_page_escapes_the_environ() -> None:
    page = debug_page(fail_before_start, HTTP_USER_AGENT="<script>alert(1)</script>").body
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_debug_page_cannot_run_code() -> None:
    result = debug_page(app_with_locals, HTTP_REFERER="javascript:alert(1)//<script>")
    page = result.body.lower()
    for marker in (b"<script", b"<form", b"<input", b"<iframe", b"<img", b"<a ", b"<link"):
        assert marker not in page
    assert "default-src 'none'" in (result.header("Content-Security-Policy") or "")


def test_debug_page_shows_the_exception_chain_oldest_first() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        empty: dict[str, int] = {}
        try:
            empty["missing"]
        except KeyError as exc:
            raise Boom("lookup failed") from exc
        return []

    page = debug_page(app).body.decode()
    page = page[page.index("<section") :]  # after the title and heading, which name the last
    first, note, second = (
        page.index("KeyError: &#x27;missing&#x27;"),
        page.index("direct cause of the following exception"),
        page.index("Boom: lookup failed"),
    )
    assert first < note < second


def test_debug_page_caps_deep_tracebacks() -> None:
    def recurse(depth: int) -> None:
        if depth == 0:
            raise Boom("deep")
        recurse(depth - 1)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        recurse(300)
        return []

    page = debug_page(app).body.decode()
    assert page.count('<li class="frame">') == 60 and "frames omitted" in page


def test_debug_page_notes_missing_source() -> None:
    namespace: dict[str, Any] = {"Boom": Boom}
    exec(
        compile("def app(environ, start_response):\n    raise Boom('x')\n", "<gen>", "exec"),
        namespace,
    )
    assert b"source not available" in debug_page(namespace["app"]).body


def test_debug_page_falls_back_when_rendering_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> bytes:
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(errors_module, "render_html", broken)
    result = debug_page(fail_before_start)
    assert result.status_code == 500 and b"Internal Server Error" in result.body
    assert "renderer broke" in caplog.text


def test_a_failing_error_page_still_gives_a_500(caplog: pytest.LogCaptureFixture) -> None:
    class Custom(ErrorMiddleware):
        def error_page(self, environ: WSGIEnvironment, exc_info: ExcInfo) -> Any:
            raise RuntimeError("custom page broke")

    result = get(Custom(fail_before_start))
    assert (result.status_code, result.body) == (500, b"500 Internal Server Error\n")
    assert "custom page broke" in caplog.text


@pytest.mark.parametrize(
    "accept",
    [pytest.param("text/plain", id="plain"), pytest.param("application/json", id="json")],
)
def test_debug_details_in_plain_text_and_json(accept: str) -> None:
    result = get(ErrorMiddleware(fail_before_start, debug=True), headers={"Accept": accept})
    assert b"Traceback (most recent call last)" in result.body
    assert b"failed <early> & loud" in result.body


# --- SMTPNotifier --------------------------------------------------------------------------------


class SMTPSink(socketserver.TCPServer):
    """A minimal SMTP server (RFC 5321 subset, AUTH PLAIN) that keeps what it receives."""

    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SMTPHandler)
        self.mails: list[dict[str, Any]] = []
        self.port: int = self.server_address[1]


class SMTPHandler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        mail: dict[str, Any] = {"to": [], "auth": None}
        self.reply("220 sink ESMTP")
        while line := self.rfile.readline():
            verb, _, rest = line.decode().strip().partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.reply("250-sink")
                self.reply("250 AUTH PLAIN")
            elif verb == "AUTH":
                mail["auth"] = base64.b64decode(rest.split()[1]).split(b"\0")[1:]
                self.reply("235 2.7.0 accepted")
            elif verb == "MAIL":
                mail["from"] = rest
                self.reply("250 OK")
            elif verb == "RCPT":
                mail["to"].append(rest)
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = b"".join(iter(self.rfile.readline, b".\r\n"))
                mail["data"] = data.decode()
                self.server.mails.append(mail)  # type: ignore[attr-defined]
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


@pytest.fixture
def smtp_sink() -> Iterator[SMTPSink]:
    server = SMTPSink()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def notifier(port: int, **kwargs: Any) -> SMTPNotifier:
    return SMTPNotifier("127.0.0.1", port, "app@example.com", ["ops@example.com"], **kwargs)


def received(sink: SMTPSink) -> EmailMessage:
    (mail,) = sink.mails
    message = email.message_from_string(mail["data"], policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_smtp_notifier_mails_the_traceback(smtp_sink: SMTPSink) -> None:
    environ = make_environ("/boom", HTTP_COOKIE="sid=s3cr3t")
    call_app(ErrorMiddleware(fail_before_start, notify=notifier(smtp_sink.port)), environ)
    # RFC 5321 §2.4: SMTP verbs and keywords are case-insensitive (smtplib 3.13 sends "from:").
    assert smtp_sink.mails[0]["from"].upper() == "FROM:<APP@EXAMPLE.COM>"
    assert [to.upper() for to in smtp_sink.mails[0]["to"]] == ["TO:<OPS@EXAMPLE.COM>"]
    message = received(smtp_sink)
    assert message["Subject"] == "[wsgikit] Boom: failed <early> & loud"
    text = message.get_content()
    assert "GET /boom HTTP/1.1" in text and "Traceback (most recent call last)" in text
    assert f"Error reference: {environ['wsgikit.error_id']}" in text


def test_smtp_notifier_masks_secrets(smtp_sink: SMTPSink) -> None:
    environ = make_environ("/boom", HTTP_COOKIE="sid=s3cr3t", QUERY_STRING="token=s3cr3t")
    call_app(ErrorMiddleware(fail_before_start, notify=notifier(smtp_sink.port)), environ)
    text = received(smtp_sink).get_content()
    assert "s3cr3t" not in text and "HTTP_COOKIE = ******** (masked)" in text


def test_smtp_notifier_logs_in(smtp_sink: SMTPSink) -> None:
    notify = notifier(smtp_sink.port, username="app", password="pw")
    call_app(ErrorMiddleware(fail_before_start, notify=notify), make_environ())
    assert smtp_sink.mails[0]["auth"] == [b"app", b"pw"]


def test_smtp_notifier_keeps_the_subject_on_one_line(smtp_sink: SMTPSink) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise Boom("two\r\nBcc: victim@example.com")

    call_app(ErrorMiddleware(app, notify=notifier(smtp_sink.port)), make_environ())
    message = received(smtp_sink)
    assert message["Bcc"] is None
    assert message["Subject"] == "[wsgikit] Boom: two Bcc: victim@example.com"


def test_smtp_server_down_is_logged_and_the_page_still_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: connection refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = get(ErrorMiddleware(fail_before_start, notify=notifier(port, timeout=2)))
    assert result.status_code == 500
    assert "notify" in caplog.text and "ConnectionRefusedError" in caplog.text


def test_smtp_notifier_repr_hides_the_password() -> None:
    assert "pw" not in repr(notifier(25, username="app", password="pw"))


@pytest.mark.parametrize(
    ("args", "kwargs", "name"),
    [
        pytest.param(("", 25, "a@b", "c@d"), {}, "host", id="host"),
        pytest.param(("h", 0, "a@b", "c@d"), {}, "port", id="port"),
        pytest.param(("h", "25", "a@b", "c@d"), {}, "port", id="port-str"),
        pytest.param(("h", 25, "nobody", "c@d"), {}, "from_addr", id="from"),
        pytest.param(("h", 25, "a@b\r\nRCPT TO:<x@y>", "c@d"), {}, "from_addr", id="from-crlf"),
        pytest.param(("h", 25, "a@b", []), {}, "to_addrs", id="no-recipients"),
        pytest.param(("h", 25, "a@b", ["c@d\n"]), {}, "to_addrs", id="to-crlf"),
        pytest.param(("h", 25, "a@b", "c@d"), {"timeout": 0}, "timeout", id="timeout"),
        pytest.param(("h", 25, "a@b", "c@d"), {"security": "tls"}, "security", id="security"),
        pytest.param(("h", 25, "a@b", "c@d"), {"username": "u"}, "password", id="half-login"),
    ],
)
def test_smtp_notifier_refuses_bad_settings(
    args: tuple[Any, ...], kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        SMTPNotifier(*args, **kwargs)


def test_smtplib_is_imported_only_when_sending() -> None:
    # DESIGN.md "Layering": the middleware layer opens no I/O modules at import time.
    import ast

    from wsgikit.middleware import _errorpage_mail

    with open(_errorpage_mail.__file__, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    top_level = {
        alias.name
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    } | {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert not top_level & {"smtplib", "ssl", "socket"}
