"""SignedCookies: values round-trip through a real client, and anything forged, moved, expired or
malformed reads as None with a DEBUG line, never an error."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable
from typing import Any

import pytest
import requests

from wsgikit.middleware import SignedCookies
from wsgikit.testing import Result, call_app, check_middleware, serve_in_thread
from wsgikit.types import StartResponse, WSGIEnvironment

SECRET = "s" * 32
OLD = "o" * 32


def setter(name: str, value: Any, **attrs: Any) -> Any:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["wsgikit.signed_cookies"].set(name, value, **attrs)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"set"]

    return app


def reader(name: str, **options: Any) -> Any:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        value = environ["wsgikit.signed_cookies"].get(name, **options)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [repr(value).encode()]

    return app


def signed(name: str, value: Any, secret: Any = SECRET, **attrs: Any) -> str:
    """The cookie pair ``name=...`` a middleware with ``secret`` sets for ``value``."""
    result = call_app(SignedCookies(setter(name, value, **attrs), secret=secret))
    header = result.header("Set-Cookie") or ""
    return header.split(";")[0]


def read(cookie: str, name: str = "user", secret: Any = SECRET, **options: Any) -> bytes:
    app = SignedCookies(reader(name, **options), secret=secret)
    return call_app(app, headers={"Cookie": cookie}).body


def test_a_json_value_round_trips_through_a_real_client() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        cookies = environ["wsgikit.signed_cookies"]
        if environ["PATH_INFO"] == "/login":
            cookies.set("user", {"id": 7, "roles": ["admin"], "name": "Zoë"})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [repr(cookies.get("user")).encode()]

    with serve_in_thread(SignedCookies(app, secret=SECRET)) as port:
        client = requests.Session()
        client.get(f"http://127.0.0.1:{port}/login", timeout=10)
        again = client.get(f"http://127.0.0.1:{port}/", timeout=10)
    assert again.content == repr({"id": 7, "roles": ["admin"], "name": "Zoë"}).encode()


def test_a_str_value_round_trips() -> None:
    assert read(signed("user", "alice")) == b"'alice'"


def test_a_tampered_cookie_reads_as_none_and_logs_debug(caplog: pytest.LogCaptureFixture) -> None:
    cookie = signed("user", "alice")
    forged = cookie.replace(cookie.split("=", 1)[1][:4], "AAAA", 1)
    with caplog.at_level(logging.DEBUG, logger="wsgikit.signed_cookies"):
        assert read(forged) == b"None"
    assert "tampered or malformed" in caplog.text


def test_an_expired_cookie_reads_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    cookie = signed("user", "alice")
    later = time.time() + 3601
    monkeypatch.setattr(time, "time", lambda: later)
    assert read(cookie, max_age=3600) == b"None"


def test_a_value_signed_for_one_name_fails_as_another() -> None:
    value = signed("user", "alice").split("=", 1)[1]
    assert read(f"admin={value}", name="admin") == b"None"


def test_an_old_secret_still_verifies_after_rotation() -> None:
    assert read(signed("user", "alice", secret=OLD), secret=[SECRET, OLD]) == b"'alice'"


def test_the_first_secret_signs() -> None:
    cookie = signed("user", "alice", secret=[SECRET, OLD])
    assert (read(cookie, secret=SECRET), read(cookie, secret=OLD)) == (b"'alice'", b"None")


def test_a_malformed_cookie_elsewhere_does_not_drop_ours() -> None:
    # The stdlib's http.cookies.SimpleCookie stops at the first bad pair and loses the rest.
    header = f'a="unterminated; b=x y; {{junk}}; ;;; {signed("user", "alice")}; c=1'
    assert read(header) == b"'alice'"


@pytest.mark.parametrize(
    "value", ["garbage", "", "a.b.c", "\xff\xfe", "x" * 5000, "e30.AAAAAA.AAAA"], ids=repr
)
def test_junk_reads_as_none(value: str) -> None:
    assert read(f"user={value}") == b"None"


def test_the_cookie_is_secure_on_https_only() -> None:
    app = SignedCookies(setter("user", 1), secret=SECRET)
    on_https = (call_app(app, scheme="https").header("Set-Cookie") or "").lower()
    on_http = (call_app(app).header("Set-Cookie") or "").lower()
    assert ("; secure" in on_https, "; secure" in on_http) == (True, False)


def test_set_takes_its_attributes() -> None:
    app = SignedCookies(
        setter("user", 1, max_age=60, path="/app", samesite="Strict"), secret=SECRET
    )
    header = call_app(app).header("Set-Cookie") or ""
    assert {"Max-Age=60", "Path=/app", "SameSite=Strict", "HttpOnly"} <= {
        part.strip() for part in header.split(";")
    }


def test_delete_expires_the_cookie() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["wsgikit.signed_cookies"].delete("user")
        start_response("204 No Content", [])
        return []

    header = call_app(SignedCookies(app, secret=SECRET)).header("Set-Cookie") or ""
    assert header.startswith("user=;") and "Max-Age=0" in header


def test_a_second_set_of_a_cookie_replaces_the_first() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        cookies = environ["wsgikit.signed_cookies"]
        cookies.set("user", "first")
        cookies.set("user", "second")
        cookies.set("user", "elsewhere", path="/admin")
        start_response("204 No Content", [])
        return []

    headers = call_app(SignedCookies(app, secret=SECRET)).header_list("Set-Cookie")
    values = [read(header.split(";")[0]) for header in headers]
    assert values == [b"'second'", b"'elsewhere'"]


def test_set_after_start_response_is_refused() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        environ["wsgikit.signed_cookies"].set("user", 1)
        return []

    with pytest.raises(RuntimeError, match="after start_response"):
        call_app(SignedCookies(app, secret=SECRET))


@pytest.mark.parametrize(
    ("value", "error"),
    [({1, 2}, TypeError), (float("nan"), TypeError), (secrets.token_hex(3000), ValueError)],
)
def test_a_value_that_cannot_be_a_cookie_is_refused(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        call_app(SignedCookies(setter("user", value), secret=SECRET))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({"secret": "short"}, ValueError, "secret", id="short"),
        pytest.param({"secret": []}, ValueError, "empty", id="empty-list"),
        pytest.param({"secret": [SECRET, 5]}, TypeError, "secret", id="item"),
        pytest.param({"max_age": 0}, ValueError, "max_age", id="max-age"),
        pytest.param({"samesite": "None"}, ValueError, "secure=True", id="samesite-none"),
        pytest.param({"path": "x"}, ValueError, "path", id="path"),
        pytest.param({"salt": ""}, ValueError, "salt", id="salt"),
    ],
)
def test_bad_options_are_refused(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        SignedCookies(reader("user"), **{"secret": SECRET, **options})


def test_passes_check_middleware() -> None:
    check_middleware(SignedCookies, secret=SECRET)


def test_app_result_is_passed_on() -> None:
    result: Result = call_app(SignedCookies(reader("user"), secret=SECRET))
    assert (result.status_code, result.body) == (200, b"None")
