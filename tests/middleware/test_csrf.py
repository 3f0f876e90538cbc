"""CSRF: the token in the form field or header, the body put back for the app, and a 403 naming
the failed check (and a WARNING line) for anything else."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.middleware.csrf_helpers import SECRET, digest, multipart, mw, page, post, visit
from wsgikit.middleware import CSRF
from wsgikit.testing import call_app, check_middleware


def test_a_get_gives_a_token_and_a_signed_cookie() -> None:
    token, cookie = visit(mw())
    assert len(token) == 86 and cookie.startswith("wsgikit_csrf=")


def test_each_response_gets_a_differently_masked_token_that_works() -> None:
    app = mw()
    token, cookie = visit(app)
    again = call_app(app, headers={"Cookie": cookie}).body.decode()
    results = [post(app, cookie, f"csrf_token={t}".encode()).status_code for t in (token, again)]
    assert (again != token, results) == (True, [200, 200])


def test_a_page_with_a_token_varies_by_cookie() -> None:
    assert call_app(mw()).header("Vary") == "Cookie"


def test_a_known_cookie_is_not_set_again() -> None:
    app = mw()
    _, cookie = visit(app)
    assert call_app(app, headers={"Cookie": cookie}).header("Set-Cookie") is None


def test_the_form_field_passes_and_the_app_reads_the_body_whole() -> None:
    app = mw()
    token, cookie = visit(app)
    body = f"name=ann&csrf_token={token}&note=".encode() + b"x" * 100_000
    assert post(app, cookie, body).body == digest(body)


@pytest.mark.parametrize(
    "extra", [b"name=Zo%C3%AB", "name=Zoë".encode(), b"n%ff=%ff%fe\xff"], ids=repr
)
def test_any_bytes_around_the_token_pass(extra: bytes) -> None:
    app = mw()
    token, cookie = visit(app)
    body = extra + f"&csrf_token={token}".encode()
    assert post(app, cookie, body).body == digest(body)


def test_a_chunked_form_gets_a_content_length() -> None:
    app = mw()
    token, cookie = visit(app)
    body = f"csrf_token={token}&a=1".encode()
    assert post(app, cookie, body, chunked=True).body == digest(body)


def test_multipart_token_after_a_file_passes_and_the_body_is_put_back() -> None:
    app = mw()
    token, cookie = visit(app)
    upload = bytes(range(256)) * 8000 + b"\r\n--b0und\r\n"
    body = multipart(
        [("file", upload, "a.bin"), ("name", b"ann", None), ("csrf_token", token.encode(), None)]
    )
    result = post(app, cookie, body, content_type="multipart/form-data; boundary=b0undary")
    assert result.body == digest(body)


def test_a_field_named_like_the_token_in_a_filename_is_not_the_token() -> None:
    app = mw()
    token, cookie = visit(app)
    body = multipart([("upload", token.encode(), "csrf_token")])
    result = post(app, cookie, body, content_type='multipart/form-data; boundary="b0undary"')
    assert result.status_code == 403


def test_the_header_passes_without_reading_the_body() -> None:
    app = mw()
    token, cookie = visit(app)
    body = b'{"a": 1}'
    result = post(
        app, cookie, body, content_type="application/json", headers={"X-CSRF-Token": token}
    )
    assert result.body == digest(body)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "PROPFIND"])
def test_unsafe_methods_need_the_token(method: str) -> None:
    _, cookie = visit(mw())
    assert post(mw(), cookie, b"a=1", method=method).status_code == 403


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE"])
def test_safe_methods_pass(method: str) -> None:
    assert call_app(mw(), method=method).status_code == 200


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "CSRF token missing"),
        ("", "is malformed"),
        ("x" * 86 + "!", "is malformed"),
        ("A" * 86, "is incorrect"),
    ],
)
def test_a_bad_token_is_403_with_the_reason(
    token: str | None, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = mw()
    _, cookie = visit(app)
    body = b"a=1" if token is None else f"csrf_token={token}".encode()
    with caplog.at_level(logging.WARNING, logger="wsgikit.csrf"):
        result = post(app, cookie, body)
    assert (result.status_code, reason in result.body.decode(), reason in caplog.text) == (
        403,
        True,
        True,
    )


def test_another_browsers_token_is_incorrect() -> None:
    app = mw()
    token, _ = visit(app)
    _, my_cookie = visit(app)
    assert b"incorrect" in post(app, my_cookie, f"csrf_token={token}".encode()).body


@pytest.mark.parametrize("cookie", [None, "wsgikit_csrf=forged.value.sig", "wsgikit_csrf="])
def test_no_valid_cookie_is_403(cookie: str | None) -> None:
    token, _ = visit(mw())
    result = post(mw(), cookie, f"csrf_token={token}".encode())
    assert (result.status_code, b"not set or not valid" in result.body) == (403, True)


def test_a_cookie_signed_with_another_secret_is_refused() -> None:
    token, cookie = visit(mw(secret="o" * 32))
    assert post(mw(), cookie, f"csrf_token={token}".encode()).status_code == 403


def test_an_old_secret_still_verifies_after_rotation() -> None:
    token, cookie = visit(mw(secret="o" * 32))
    result = post(mw(secret=[SECRET, "o" * 32]), cookie, f"csrf_token={token}".encode())
    assert result.status_code == 200


def https_post(app: Any, headers: dict[str, str]) -> int:
    token, cookie = visit(app, scheme="https")
    sent = {"X-CSRF-Token": token, "Host": "example.com", **headers}
    return post(app, cookie, b"", headers=sent, scheme="https").status_code


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 403),  # neither Origin nor Referer
        ({"Referer": "https://example.com/form"}, 200),
        ({"Referer": "https://example.com:443/form"}, 200),
        ({"Referer": "http://example.com/form"}, 403),  # insecure
        ({"Referer": "https://evil.com/form"}, 403),
        ({"Referer": "not a url"}, 403),
        ({"Referer": "https://example.com:99999/"}, 403),
        ({"Origin": "https://example.com"}, 200),
        ({"Origin": "https://evil.com", "Referer": "https://example.com/"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "http://example.com"}, 403),
        ({"Origin": "https://app.trusted.org"}, 200),
        ({"Origin": "https://trusted.org"}, 200),
        ({"Origin": "https://eviltrusted.org"}, 403),
        ({"Referer": "https://api.partner.net/x"}, 200),
        ({"Referer": "https://api.partner.net:8443/x"}, 403),
    ],
)
def test_https_origin_and_referer_rules(headers: dict[str, str], status: int) -> None:
    app = mw(trusted_origins=["https://*.trusted.org", "https://api.partner.net"])
    assert https_post(app, headers) == status


def test_a_cross_origin_post_over_http_is_refused() -> None:
    app = mw()
    token, cookie = visit(app)
    headers = {"X-CSRF-Token": token, "Origin": "http://evil.com"}
    result = post(app, cookie, b"", headers=headers)
    assert (result.status_code, b"Origin" in result.body) == (403, True)


def test_a_plain_http_post_needs_no_referer() -> None:
    app = mw()
    token, cookie = visit(app)
    assert post(app, cookie, b"", headers={"X-CSRF-Token": token}).status_code == 200


@pytest.mark.parametrize(
    ("path", "status"), [("/hooks/stripe", 200), ("/hooks", 200), ("/hooksy", 403), ("/", 403)]
)
def test_exempt_paths_skip_the_checks(path: str, status: int) -> None:
    assert post(mw(exempt_paths=["/hooks"]), None, b"a=1", path=path).status_code == status


def test_an_exempt_callable_skips_the_checks() -> None:
    app = mw(exempt=lambda environ: "HTTP_X_API_KEY" in environ)
    assert post(app, None, b"a=1", headers={"X-API-Key": "k"}).status_code == 200


def test_the_403_page_is_html_for_browsers_and_escapes() -> None:
    headers = {"Accept": "text/html", "Origin": "https://<script>.com"}
    result = post(mw(), None, b"", headers=headers)
    assert result.header("Content-Type") == "text/html; charset=utf-8"
    assert b"<script>" not in result.body and b"&lt;script&gt;" in result.body


def test_a_form_over_max_form_size_is_413() -> None:
    app = mw(max_form_size=1000)
    token, cookie = visit(app)
    assert post(app, cookie, f"csrf_token={token}&a=".encode() + b"x" * 2000).status_code == 413


def test_rotate_makes_a_new_secret() -> None:
    def login(environ: Any, start_response: Any) -> list[bytes]:
        environ["wsgikit.csrf_token"].rotate()
        start_response("200 OK", [])
        return [str(environ["wsgikit.csrf_token"]).encode()]

    app = mw()
    token, cookie = visit(app)
    result = post(CSRF(login, secret=SECRET), cookie, f"csrf_token={token}".encode())
    new_cookie = (result.header("Set-Cookie") or "").split(";")[0]
    old_token_now = post(app, new_cookie, f"csrf_token={token}".encode()).status_code
    new_token_now = post(app, new_cookie, b"csrf_token=" + result.body).status_code
    assert (new_cookie != cookie, old_token_now, new_token_now) == (True, 403, 200)


def test_a_new_token_after_start_response_is_a_clear_error() -> None:
    def late(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [str(environ["wsgikit.csrf_token"]).encode()]

    with pytest.raises(RuntimeError, match="before calling start_response"):
        call_app(CSRF(late, secret=SECRET))


def test_a_known_secret_can_be_used_after_start_response() -> None:
    def late(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [str(environ["wsgikit.csrf_token"]).encode()]

    _, cookie = visit(mw())
    token = call_app(CSRF(late, secret=SECRET), headers={"Cookie": cookie}).body
    assert post(mw(), cookie, b"csrf_token=" + token).status_code == 200


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({"secret": "short"}, ValueError, "secret", id="secret"),
        pytest.param({"trusted_origins": "https://a.com"}, TypeError, "trusted", id="str"),
        pytest.param({"trusted_origins": ["a.com"]}, ValueError, "trusted", id="no-scheme"),
        pytest.param({"trusted_origins": ["https://a.com/x"]}, ValueError, "trusted", id="path"),
        pytest.param({"exempt_paths": ["hooks"]}, ValueError, "exempt_paths", id="exempt"),
        pytest.param({"exempt": "yes"}, TypeError, "callable", id="exempt-callable"),
        pytest.param({"use_session": 1}, TypeError, "use_session", id="use-session"),
        pytest.param({"header_name": "X Token"}, ValueError, "header_name", id="header"),
        pytest.param({"field_name": ""}, ValueError, "field_name", id="field"),
        pytest.param({"samesite": "None"}, ValueError, "secure=True", id="samesite"),
        pytest.param({"max_form_size": -1}, ValueError, "max_form_size", id="size"),
    ],
)
def test_bad_options_are_refused(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        CSRF(page, **{"secret": SECRET, **options})


def test_passes_check_middleware_when_refusing() -> None:
    check_middleware(CSRF, secret=SECRET)


def test_passes_check_middleware_when_exempt() -> None:
    check_middleware(CSRF, secret=SECRET, exempt=lambda environ: True)
