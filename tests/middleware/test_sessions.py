"""SessionMiddleware: the conformance zoo, lazy loading, Vary, cookies and their attributes,
tampering, size and data errors, key rotation, options. A session's life (regenerate, when saves
happen, a store that is down) is in test_session_lifecycle.py."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from itsdangerous.encoding import base64_encode

from tests.middleware.session_helpers import (
    OLD_SECRET,
    SECRET,
    TEXT,
    Closing,
    Recording,
    action,
    attributes,
    cookie_of,
    counter,
    get,
    increment,
    mw,
    reader,
    session_of,
    untouched,
)
from wsgikit.middleware.sessions import (
    CookieStore,
    MemoryStore,
    ServerStore,
    Session,
    SessionMiddleware,
    SQLiteStore,
)
from wsgikit.middleware.sessions._codec import Codec
from wsgikit.testing import call_app, check_middleware, make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment


# --- conformance ---------------------------------------------------------------------------------
def touching(do: Callable[[Session], object]) -> Callable[..., WSGIApplication]:
    def factory(app: WSGIApplication, **options: Any) -> WSGIApplication:
        def inner(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            do(session_of(environ))
            return app(environ, start_response)

        return SessionMiddleware(inner, **options)

    return factory


@pytest.mark.parametrize(
    ("factory", "options"),
    [
        pytest.param(SessionMiddleware, {}, id="cookie-untouched"),
        pytest.param(touching(increment), {}, id="cookie-written"),
        pytest.param(touching(lambda s: s.get("n")), {}, id="cookie-read"),
        pytest.param(touching(increment), {"store": MemoryStore()}, id="memory-written"),
        pytest.param(touching(Session.invalidate), {"store": MemoryStore()}, id="invalidated"),
        pytest.param(
            touching(increment),
            {"secure": True, "samesite": "None", "cookie_name": "sid", "max_age": 60},
            id="cross-site-options",
        ),
    ],
)
def test_passes_check_middleware(factory: Callable[..., Any], options: dict[str, Any]) -> None:
    check_middleware(factory, secret=SECRET, **options)


def test_passes_check_middleware_with_sqlite(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        check_middleware(touching(increment), secret=SECRET, store=store)
    finally:
        store.close()


# --- lazy loading, Vary, saving only changes -----------------------------------------------------
def test_session_is_saved_and_read_back() -> None:
    app = mw(counter)
    first = get(app)
    assert get(app, cookie_of(first)).body == b"2"


def test_store_is_not_touched_when_the_session_is_not() -> None:
    store = Recording()
    cookie = cookie_of(get(mw(counter, store=store)))
    store.calls.clear()
    get(mw(untouched, store=store), cookie)
    assert store.calls == []


def test_untouched_session_adds_no_headers() -> None:
    cookie = cookie_of(get(mw(counter)))
    result = get(mw(untouched), cookie)
    assert (result.header("Vary"), result.header("Set-Cookie")) == (None, None)


def test_read_session_adds_vary_cookie_but_no_set_cookie() -> None:
    cookie = cookie_of(get(mw(counter)))
    result = get(mw(reader), cookie)
    assert (result.body, result.header("Vary"), result.header("Set-Cookie")) == (
        b"1",
        "Cookie",
        None,
    )


def test_read_session_without_cookie_still_varies() -> None:
    assert get(mw(reader)).header("Vary") == "Cookie"


@pytest.mark.parametrize(
    ("vary", "expected"),
    [
        pytest.param("Accept-Encoding", ["Accept-Encoding", "Cookie"], id="added"),
        pytest.param("accept-encoding, cookie", ["accept-encoding, cookie"], id="already-there"),
        pytest.param("*", ["*"], id="star"),
    ],
)
def test_vary_is_merged_with_the_apps(vary: str, expected: list[str]) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        session_of(environ).get("n")
        start_response("200 OK", [*TEXT, ("Vary", vary)])
        return [b""]

    assert get(mw(app)).header_list("Vary") == expected


def test_in_place_change_is_saved_when_marked_modified() -> None:
    def append(session: Session) -> object:
        if "items" not in session:
            session["items"] = []
        session["items"].append(len(session["items"]))
        session.modified = True
        return session["items"]

    app = mw(action(append))
    assert get(app, cookie_of(get(app))).body == b"[0, 1]"


def test_untouched_list_body_is_handed_on_as_is() -> None:
    body = [b"ok"]

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        return body

    assert mw(app)(make_environ(), lambda s, h, e=None: lambda d: None) is body


def test_session_keys_must_be_str() -> None:
    with pytest.raises(TypeError, match="session keys must be str"):
        get(mw(action(lambda s: s.__setitem__(1, "x"))))  # type: ignore[index]


def test_new_tells_a_fresh_session_from_a_returning_one() -> None:
    app = mw(action(lambda s: (s.new, increment(s))))
    first = get(app)
    assert (first.body, get(app, cookie_of(first)).body) == (b"(True, 1)", b"(False, 2)")


# --- bad cookies start a fresh session -----------------------------------------------------------
def valid_cookie() -> str:
    return cookie_of(get(mw(counter)))


def flip_signature(cookie: str) -> str:
    """Change the signature's first character: all six of its bits are signature bits.

    (Not the last one: in unpadded base64 its low bits are padding, so a neighbouring character
    can decode to the very same signature.)
    """
    cut = cookie.rindex(".") + 1
    return cookie[:cut] + ("A" if cookie[cut] != "A" else "g") + cookie[cut + 1 :]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: flip_signature(valid_cookie()), id="tampered-signature"),
        pytest.param(
            lambda: valid_cookie().replace("wsgikit_session=ey", "wsgikit_session=ez"),
            id="tampered-data",
        ),
        pytest.param(lambda: "wsgikit_session=garbage", id="garbage"),
        pytest.param(lambda: "wsgikit_session=a.b.c", id="three-dots"),
        pytest.param(lambda: "wsgikit_session=", id="empty"),
        pytest.param(lambda: cookie_of(get(mw(counter, secret=OLD_SECRET))), id="other-secret"),
        pytest.param(lambda: "wsgikit_session=" + "x" * 5000, id="huge"),
        pytest.param(lambda: "wsgikit_session=ü", id="latin-1"),
    ],
)
def test_bad_cookie_starts_a_fresh_session(make: Callable[[], str]) -> None:
    result = get(mw(counter), make())
    assert (result.status_code, result.body) == (200, b"1")


def test_cookie_header_a_server_should_never_pass_starts_fresh() -> None:
    environ = make_environ(
        HTTP_COOKIE="wsgikit_session=€; " + valid_cookie()
    )  # PEP 3333: latin-1 only
    assert call_app(mw(counter), environ).body == b"1"


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(base64_encode(b"[1, 2]"), id="json-list"),
        pytest.param(base64_encode(b"{not json"), id="not-json"),
        pytest.param(b"!!not base64!!", id="not-base64"),
        pytest.param(b"." + base64_encode(b"not zlib data"), id="not-zlib"),
    ],
)
def test_signed_cookie_that_holds_no_session_starts_fresh(payload: bytes) -> None:
    codec = Codec(
        secret=SECRET,
        fallbacks=(),
        name="session",
        max_age=60,
        httponly=True,
        samesite="Lax",
        path="/",
        domain=None,
        secure=None,
    )
    forged = codec._data.sign(payload).decode()
    assert get(mw(counter), f"wsgikit_session={forged}").body == b"1"


def test_expired_cookie_starts_a_fresh_session(monkeypatch: pytest.MonkeyPatch) -> None:
    cookie = cookie_of(get(mw(counter, max_age=60)))
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    assert get(mw(counter, max_age=60), cookie).body == b"1"


def test_cookie_within_max_age_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    cookie = cookie_of(get(mw(counter, max_age=60)))
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 50)
    assert get(mw(counter, max_age=60), cookie).body == b"2"


def test_junk_cookies_of_other_apps_are_ignored() -> None:
    cookie = valid_cookie()
    header = f'$Version=1; other="a b\\"c"; bad cookie; =x; {cookie}; theme=dark; tail'
    assert get(mw(counter), header).body == b"2"


def test_first_valid_of_several_same_name_cookies_wins() -> None:
    assert get(mw(counter), f"wsgikit_session=garbage; {valid_cookie()}").body == b"2"


def test_unknown_server_side_id_starts_fresh_under_a_new_id() -> None:
    store = Recording()
    cookie = cookie_of(get(mw(counter, store=store)))
    old = store.saved_ids()[0]
    store.delete(old)
    result = get(mw(counter, store=store), cookie)
    assert result.body == b"1"
    assert store.saved_ids()[-1] != old


# --- the cookie ----------------------------------------------------------------------------------
def test_default_cookie_attributes() -> None:
    result = get(mw(counter))
    attrs = attributes(result)
    expires = parsedate_to_datetime(attrs.pop("expires")).timestamp()
    assert attrs == {"max-age": "1209600", "path": "/", "httponly": "", "samesite": "Lax"}
    assert abs(expires - (time.time() + 14 * 86400)) < 5


def test_custom_cookie_attributes() -> None:
    app = mw(
        counter,
        cookie_name="sid",
        max_age=timedelta(hours=1),
        path="/app",
        domain="example.com",
        secure=True,
        httponly=False,
        samesite="strict",
    )
    result = get(app)
    attrs = attributes(result)
    attrs.pop("expires")
    assert cookie_of(result).startswith("sid=")
    assert attrs == {
        "max-age": "3600",
        "path": "/app",
        "domain": "example.com",
        "secure": "",
        "samesite": "Strict",
    }


@pytest.mark.parametrize(
    ("secure", "scheme", "expected"),
    [
        pytest.param(None, "https", True, id="auto-https"),
        pytest.param(None, "http", False, id="auto-http"),
        pytest.param(False, "https", False, id="never"),
        pytest.param(True, "http", True, id="always"),
    ],
)
def test_secure_flag(secure: bool | None, scheme: str, expected: bool) -> None:
    result = get(mw(counter, secure=secure), scheme=scheme)
    assert ("secure" in attributes(result)) is expected


def test_server_side_cookie_holds_only_a_signed_random_id() -> None:
    store = Recording()
    result = get(mw(action(lambda s: s.__setitem__("user", "alice")), store=store))
    sid = store.saved_ids()[0]
    value = cookie_of(result).split("=", 1)[1]
    assert value.startswith(sid + ".") and "alice" not in value
    assert len(sid) == 43  # secrets.token_urlsafe(32): 256 bits


def test_server_side_ids_differ_each_time() -> None:
    store = Recording()
    for _ in range(20):
        get(mw(counter, store=store))
    assert len(set(store.saved_ids())) == 20


# --- size and data errors -------------------------------------------------------------------------
def test_cookie_over_the_size_limit_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    body = Closing([b"never sent"])

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        session_of(environ)["blob"] = secrets.token_hex(3000)
        start_response("200 OK", TEXT)
        return body

    with caplog.at_level(logging.ERROR, "wsgikit.sessions"):
        result = get(mw(app))
    assert (result.status_code, result.header("Set-Cookie"), body.closed) == (500, None, True)
    assert "over the 4093-byte limit" in caplog.text and "GET /" in caplog.text


def test_smaller_max_size_is_enforced() -> None:
    app = mw(action(lambda s: s.__setitem__("blob", secrets.token_hex(100))))
    assert get(app, store=None).status_code == 200
    assert get(mw(app.app, store=CookieStore(max_size=200))).status_code == 500


def test_big_but_compressible_session_fits_and_reads_back() -> None:
    result = get(mw(action(lambda s: s.__setitem__("blob", "abc" * 3000))))
    assert result.status_code == 200 and len(cookie_of(result)) < 500
    assert get(mw(action(lambda s: len(s["blob"]))), cookie_of(result)).body == b"9000"


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("store", [None, MemoryStore()], ids=["cookie", "memory"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"a"}, id="set"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(nested(100_000), id="too-deep"),
    ],
)
def test_data_json_cannot_hold_is_a_logged_500(
    store: ServerStore | None, value: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "wsgikit.sessions"):
        result = get(mw(action(lambda s: s.__setitem__("tags", value)), store=store))
    assert result.status_code == 500
    assert "cannot be saved as JSON" in caplog.text


# --- key rotation --------------------------------------------------------------------------------
def test_cookie_signed_with_a_fallback_secret_is_accepted() -> None:
    cookie = cookie_of(get(mw(counter, secret=OLD_SECRET)))
    assert get(mw(reader, secret_fallbacks=[OLD_SECRET]), cookie).body == b"1"


def test_cookie_signed_with_a_fallback_secret_is_re_signed() -> None:
    cookie = cookie_of(get(mw(counter, secret=OLD_SECRET)))
    renewed = cookie_of(get(mw(reader, secret_fallbacks=[OLD_SECRET]), cookie))
    assert get(mw(reader), renewed).body == b"1"


def test_retired_secret_is_refused() -> None:
    cookie = cookie_of(get(mw(counter, secret=OLD_SECRET)))
    assert get(mw(reader), cookie).body == b"None"


def test_server_side_id_signed_with_a_fallback_secret_is_accepted() -> None:
    store = MemoryStore()
    cookie = cookie_of(get(mw(counter, secret=OLD_SECRET, store=store)))
    assert get(mw(counter, secret_fallbacks=[OLD_SECRET], store=store), cookie).body == b"2"


# --- options -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({"secret": "short"}, ValueError, "secret", id="short-secret"),
        pytest.param({"secret": 12345678901234567}, TypeError, "secret", id="secret-int"),
        pytest.param({"secret_fallbacks": "x" * 20}, TypeError, "secret_fallbacks", id="fb-str"),
        pytest.param(
            {"secret_fallbacks": ["short"]}, ValueError, "secret_fallbacks", id="fb-short"
        ),
        pytest.param({"store": {}}, TypeError, "store", id="store"),
        pytest.param({"cookie_name": "a b"}, ValueError, "cookie_name", id="cookie-name"),
        pytest.param({"cookie_name": ""}, ValueError, "cookie_name", id="cookie-name-empty"),
        pytest.param({"max_age": 0}, ValueError, "max_age", id="max-age-zero"),
        pytest.param({"max_age": 1.5}, ValueError, "max_age", id="max-age-float"),
        pytest.param({"max_age": True}, ValueError, "max_age", id="max-age-bool"),
        pytest.param({"secure": "yes"}, TypeError, "secure", id="secure"),
        pytest.param({"httponly": None}, TypeError, "httponly", id="httponly"),
        pytest.param({"samesite": "sometimes"}, ValueError, "samesite", id="samesite"),
        pytest.param({"samesite": "None"}, ValueError, "secure=True", id="samesite-none"),
        pytest.param({"path": "app"}, ValueError, "path", id="path-relative"),
        pytest.param({"path": "/a;b"}, ValueError, "path", id="path-semicolon"),
        pytest.param({"domain": "a b.com"}, ValueError, "domain", id="domain"),
    ],
)
def test_bad_options_are_refused(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        SessionMiddleware(untouched, **{"secret": SECRET, **options})


def test_app_must_be_callable() -> None:
    with pytest.raises(TypeError, match="app"):
        SessionMiddleware(None, secret=SECRET)  # type: ignore[arg-type]
