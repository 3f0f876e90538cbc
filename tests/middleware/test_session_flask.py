"""SessionMiddleware beside a real Flask app: the default cookie name is not Flask's, so neither
session resets the other; an app that sets a cookie of the session's name gets one warning."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pytest
from flask import Flask, request, session

from tests.middleware.session_helpers import SECRET, cookie_of, counter, get, mw
from wsgikit.middleware.dispatch import Dispatcher
from wsgikit.testing import Result
from wsgikit.types import WSGIApplication


def flask_counter() -> Flask:
    app = Flask("beside")
    app.secret_key = SECRET

    @app.route("/count")
    def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    return app


class Browser:
    """Keeps the cookies it is given, by name, as a browser does for one site."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.jar: dict[str, str] = {}

    def get(self, path: str) -> Result:
        cookie = "; ".join(f"{name}={value}" for name, value in self.jar.items())
        result = get(self.app, cookie or None, path=path)
        for header in result.header_list("Set-Cookie"):
            name, _, value = header.split(";", 1)[0].partition("=")
            self.jar[name.strip()] = value
        return result


def bodies(results: Iterable[Result]) -> list[bytes]:
    return [result.body for result in results]


def test_flask_session_and_ours_do_not_reset_each_other() -> None:
    site = mw(Dispatcher({"/": counter, "/flask": flask_counter()}))
    browser = Browser(site)
    pairs = [(browser.get("/flask/count"), browser.get("/")) for _ in range(3)]
    assert bodies(flask for flask, _ in pairs) == [b"1", b"2", b"3"]
    assert bodies(ours for _, ours in pairs) == [b"1", b"2", b"3"]


def test_one_response_carries_two_cookies_of_different_names() -> None:
    flask_app = flask_counter()

    @flask_app.route("/both")
    def both() -> str:
        session["n"] = 1
        request.environ["wsgikit.session"]["m"] = 1
        return "ok"

    result = get(mw(flask_app), path="/both")
    names = [value.split("=", 1)[0] for value in result.header_list("Set-Cookie")]
    assert sorted(names) == ["session", "wsgikit_session"]


def test_an_app_setting_our_cookie_name_is_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = mw(flask_counter(), cookie_name="session")
    with caplog.at_level(logging.WARNING, "wsgikit.sessions"):
        first = get(app, path="/count")
        get(app, cookie_of(first), path="/count")
    warnings = [r for r in caplog.records if "sets a cookie named 'session'" in r.getMessage()]
    assert len(warnings) == 1
