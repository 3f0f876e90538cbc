"""ErrorMiddleware: the 500 page (negotiated, with a correct length), errors after the response
started (passed up with exc_info, nothing appended), logging, notify and who sees details.
The debug page and SMTPNotifier are in test_errors_debug.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import pytest

from tests.middleware.errors_helpers import (
    BROWSER,
    TEXT,
    Boom,
    Closing,
    Server,
    app_returning,
    fail_after_start,
    fail_before_start,
    get,
)
from wsgikit.middleware.errors import ErrorMiddleware, from_addresses
from wsgikit.testing import call_app, check_middleware, make_environ
from wsgikit.types import ExcInfo, StartResponse, WSGIApplication, WSGIEnvironment

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
