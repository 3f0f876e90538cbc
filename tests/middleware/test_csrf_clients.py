"""CSRF in front of real apps and clients: a Flask form and a Django upload posted by requests
through our HTTP server (the body reaches the framework whole after the token was read from
it), and the token kept in SessionMiddleware's session instead of a cookie."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

import pytest
import requests
from flask import Flask, render_template_string, request

from tests.middleware.csrf_helpers import SECRET, page, post, visit
from wsgikit.middleware import CSRF, SessionMiddleware
from wsgikit.testing import call_app, serve_in_thread
from wsgikit.types import StartResponse, WSGIEnvironment

FORM = """<form method="post" enctype="{{ enctype }}">
<input type="hidden" name="csrf_token" value="{{ request.environ['wsgikit.csrf_token'] }}">
<input name="name"><input type="file" name="upload"></form>"""


def flask_app() -> Flask:
    app = Flask("csrf")

    @app.route("/", methods=["GET", "POST"])
    def form() -> str:
        if request.method == "GET":
            return render_template_string(FORM, enctype=request.args.get("enctype", ""))
        upload = request.files.get("upload")
        size = len(upload.read()) if upload is not None else -1
        return f"{request.form['name']} {size}"

    return app


def token_in(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


@pytest.mark.parametrize("enctype", ["application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_flask_form_posts_through_csrf(enctype: str) -> None:
    with serve_in_thread(CSRF(flask_app().wsgi_app, secret=SECRET)) as port:
        url = f"http://127.0.0.1:{port}/"
        browser = requests.Session()
        token = token_in(browser.get(url, params={"enctype": enctype}, timeout=10).text)
        fields = {"csrf_token": token, "name": "Zoë"}
        if enctype == "multipart/form-data":
            sent = browser.post(url, data=fields, files={"upload": b"\0" * 300_000}, timeout=10)
        else:
            sent = browser.post(url, data=fields, timeout=10)
        forged = requests.post(url, data={"name": "mallory"}, timeout=10)
    expected = "Zoë 300000" if enctype == "multipart/form-data" else "Zoë -1"
    assert (sent.status_code, sent.text, forged.status_code) == (200, expected, 403)


@pytest.fixture(scope="module")
def django_app() -> Any:
    from tests.django_site.wsgi import application

    return application


def with_token_page(app: Any) -> Any:
    """``app``, with ``/token`` answering the CSRF token (the Django test site has no form)."""

    def outer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/token":
            return page(environ, start_response)
        return app(environ, start_response)

    return outer


def test_a_django_upload_arrives_whole_after_the_token_check(django_app: Any) -> None:
    upload = hashlib.sha256(b"seed").digest() * (3 << 15)  # 3 MiB: Django spools it to disk
    app = CSRF(with_token_page(django_app), secret=SECRET)
    with serve_in_thread(app) as port:
        base = f"http://127.0.0.1:{port}"
        browser = requests.Session()
        token = browser.get(f"{base}/token", timeout=10).text
        fields = {"name": "ann", "csrf_token": token}
        answer = browser.post(
            f"{base}/files", data=fields, files={"doc": ("doc.bin", upload)}, timeout=30
        ).json()
    assert answer == {
        "files": {
            "doc": {
                "name": "doc.bin",
                "size": len(upload),
                "sha256": hashlib.sha256(upload).hexdigest(),
            }
        },
        "fields": {"name": ["ann"], "csrf_token": [token]},
    }


def test_a_django_form_gets_its_fields(django_app: Any) -> None:
    app = CSRF(with_token_page(django_app), secret=SECRET)
    with serve_in_thread(app) as port:
        base = f"http://127.0.0.1:{port}"
        browser = requests.Session()
        token = browser.get(f"{base}/token", timeout=10).text
        fields = {"tags": ["a&b=c", "x+y"], "csrf_token": token}
        answer = browser.post(f"{base}/form", data=fields, timeout=10).json()
    assert answer["fields"] == {"tags": ["a&b=c", "x+y"], "csrf_token": [token]}


def session_stack(**options: Any) -> Any:
    return SessionMiddleware(CSRF(page, secret=SECRET, **options), secret="s" * 32)


def test_with_sessions_the_secret_lives_in_the_session() -> None:
    app = session_stack()
    token, cookie = visit(app)
    result = post(app, cookie, f"csrf_token={token}".encode())
    assert (cookie.startswith("wsgikit_session="), result.status_code) == (True, 200)


def test_with_sessions_a_token_without_its_session_is_refused() -> None:
    app = session_stack()
    token, _ = visit(app)
    result = post(app, None, f"csrf_token={token}".encode())
    assert (result.status_code, b"CSRF session not set" in result.body) == (403, True)


def test_use_session_false_keeps_the_cookie() -> None:
    result = call_app(session_stack(use_session=False))
    names = {value.split("=")[0] for value in result.header_list("Set-Cookie")}
    assert names == {"wsgikit_csrf"}
