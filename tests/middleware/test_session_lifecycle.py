"""SessionMiddleware over a session's life: regenerate, clear, invalidate; when the save
happens (after the body); a store that is down; real backends through the middleware."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.middleware.session_helpers import (
    TEXT,
    App,
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
    MemoryStore,
    RedisStore,
    ServerStore,
    Session,
    SQLiteStore,
    StoreUnavailableError,
)
from wsgikit.testing import make_environ
from wsgikit.types import StartResponse, WSGIEnvironment


# --- regenerate, clear, invalidate ---------------------------------------------------------------
def login_cookie(store: ServerStore) -> str:
    return cookie_of(get(mw(action(lambda s: s.__setitem__("user", "alice")), store=store)))


def test_regenerate_moves_the_data_to_a_new_id() -> None:
    store = Recording()
    cookie = login_cookie(store)
    old = store.saved_ids()[0]
    result = get(mw(action(Session.regenerate), store=store), cookie)
    new = store.saved_ids()[-1]
    assert new != old and ("delete", old) in store.calls
    assert (store.load(old), store.load(new)) == (None, '{"user":"alice"}')
    assert cookie_of(result).split("=", 1)[1].startswith(new + ".")


def test_regenerate_with_cookie_store_issues_a_new_cookie() -> None:
    cookie = cookie_of(get(mw(counter)))
    renewed = cookie_of(get(mw(action(Session.regenerate)), cookie))
    assert get(mw(reader), renewed).body == b"1"


def test_invalidate_deletes_the_record_and_expires_the_cookie() -> None:
    store = Recording()
    cookie = login_cookie(store)
    old = store.saved_ids()[0]
    store.calls.clear()
    result = get(mw(action(Session.invalidate), store=store), cookie)
    assert store.calls == [("delete", old)]  # not even loaded first
    assert attributes(result)["max-age"] == "0" and cookie_of(result) == "wsgikit_session="


def test_invalidate_then_write_starts_a_new_session() -> None:
    store = Recording()
    cookie = login_cookie(store)
    old = store.saved_ids()[0]

    def relogin(session: Session) -> None:
        session.invalidate()
        session["user"] = "bob"

    result = get(mw(action(relogin), store=store), cookie)
    new = store.saved_ids()[-1]
    assert new != old and store.load(old) is None and store.load(new) == '{"user":"bob"}'
    assert cookie_of(result).split("=", 1)[1].startswith(new + ".")


def test_invalidate_with_cookie_store_expires_the_cookie() -> None:
    cookie = cookie_of(get(mw(counter)))
    result = get(mw(action(Session.invalidate)), cookie)
    assert attributes(result)["max-age"] == "0"


def test_invalidate_without_a_cookie_sets_none() -> None:
    assert get(mw(action(Session.invalidate))).header("Set-Cookie") is None


@pytest.mark.parametrize("store", [None, "memory"], ids=["cookie", "memory"])
def test_clear_empties_the_session_and_expires_the_cookie(store: str | None) -> None:
    made = Recording() if store else None
    cookie = cookie_of(get(mw(counter, store=made)))
    result = get(mw(action(Session.clear), store=made), cookie)
    assert attributes(result)["max-age"] == "0"
    if made is not None:
        assert made.calls[-1][0] == "delete" and len(made) == 0


# --- when the save happens -----------------------------------------------------------------------
def streaming(before: Callable[[Session], object], after: Callable[[Session], object]) -> App:
    """A generator app: ``before`` ahead of its first chunk, ``after`` between two chunks."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        session = session_of(environ)
        before(session)
        start_response("200 OK", TEXT)
        yield b"first "
        after(session)
        yield b"second"

    return app


def test_server_side_save_happens_before_the_last_chunk_goes_out() -> None:
    store = Recording()
    cookie = login_cookie(store)
    sid = store.saved_ids()[0]
    app = mw(
        streaming(lambda s: s.__setitem__("a", 1), lambda s: s.__setitem__("b", 2)), store=store
    )
    body = app(make_environ(headers={"Cookie": cookie}), lambda s, h, e=None: lambda d: None)
    seen = []
    for chunk in body:
        seen.append((chunk, store.load(sid)))
    body.close()  # type: ignore[attr-defined]
    before, after = '{"user":"alice"}', '{"user":"alice","a":1,"b":2}'
    assert seen == [(b"", before), (b"first ", before), (b"second", after)]


def test_written_body_is_held_back_until_the_save_too() -> None:
    class Down(MemoryStore):
        def save(self, session_id: str, payload: str, max_age: int) -> None:
            raise StoreUnavailableError("the store went away")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", TEXT)
        increment(session_of(environ))
        write(b"one;")
        write(b"two")
        return []

    sent: list[bytes] = []
    body = mw(app, store=Down())(make_environ(), lambda s, h, e=None: sent.append)
    with pytest.raises(StoreUnavailableError):
        sent.extend(body)
    assert sent == [b"one;"]


def test_change_while_streaming_is_kept_for_an_existing_session() -> None:
    store = MemoryStore()
    cookie = login_cookie(store)
    get(
        mw(streaming(lambda s: s.get("x"), lambda s: s.__setitem__("late", True)), store=store),
        cookie,
    )
    assert get(mw(action(lambda s: s["late"]), store=store), cookie).body == b"True"


def test_new_session_changed_only_while_streaming_is_not_saved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Recording()
    with caplog.at_level(logging.WARNING, "wsgikit.sessions"):
        result = get(mw(streaming(lambda s: None, increment), store=store))
    assert (result.header("Set-Cookie"), store.saved_ids()) == (None, [])
    assert "not saved" in caplog.text


def test_cookie_session_changed_while_streaming_is_lost_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "wsgikit.sessions"):
        result = get(mw(streaming(increment, increment)))
    assert get(mw(reader), cookie_of(result)).body == b"1"
    assert "change is lost" in caplog.text


def test_cookie_session_changed_before_a_lazy_first_chunk_is_saved() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        increment(session_of(environ))  # after start_response, before the first chunk
        yield b"ok"

    assert get(mw(reader), cookie_of(get(mw(app)))).body == b"1"


def test_change_before_write_reaches_the_cookie() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", TEXT)
        increment(session_of(environ))
        write(b"written")
        return []

    result = get(mw(app))
    assert (result.body, get(mw(reader), cookie_of(result)).body) == (b"written", b"1")


def test_nothing_is_saved_for_a_5xx_response() -> None:
    store = Recording()
    result = get(mw(action(increment, status="500 Internal Server Error"), store=store))
    assert (result.header("Set-Cookie"), store.saved_ids()) == (None, [])


def test_nothing_is_saved_when_the_app_raises() -> None:
    store = Recording()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        increment(session_of(environ))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        get(mw(app, store=store))
    assert store.saved_ids() == []


def test_nothing_is_saved_when_the_client_leaves_early() -> None:
    store = Recording()
    cookie = login_cookie(store)
    store.calls.clear()
    app = mw(streaming(increment, lambda s: None), store=store)
    body = app(make_environ(headers={"Cookie": cookie}), lambda s, h, e=None: lambda d: None)
    next(iter(body))
    body.close()  # type: ignore[attr-defined]
    assert store.saved_ids() == []


def test_inner_iterable_is_closed_when_the_server_leaves_early() -> None:
    inner = Closing([b"a", b"b"])

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        return inner

    body = mw(app)(make_environ(), lambda s, h, e=None: lambda d: None)
    next(iter(body))
    body.close()  # type: ignore[attr-defined]
    assert inner.closed


def test_head_response_keeps_the_cookie_and_drops_the_body() -> None:
    result = get(mw(counter), method="HEAD")
    assert (result.body, result.header("Content-Length")) == (b"", "1")
    assert cookie_of(result).startswith("wsgikit_session=")


def test_start_response_twice_without_exc_info_is_an_error() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        start_response("200 OK", TEXT)
        return []

    with pytest.raises(RuntimeError, match="second time"):
        get(mw(app))


# --- a store that is down ------------------------------------------------------------------------
@pytest.fixture
def down_store(closed_port: int) -> Iterator[RedisStore]:
    store = RedisStore(f"redis://127.0.0.1:{closed_port}/0", timeout=1)
    yield store
    store.close()


def test_down_store_gives_a_logged_503(
    down_store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    cookie = cookie_of(get(mw(counter, store=MemoryStore())))
    with caplog.at_level(logging.ERROR, "wsgikit.sessions"):
        result = get(mw(counter, store=down_store), cookie, path="/account")
    assert (result.status_code, result.header("Content-Length")) == (503, str(len(result.body)))
    assert "503" in caplog.text and "GET /account" in caplog.text


def test_down_store_spares_routes_that_never_touch_the_session(down_store: RedisStore) -> None:
    cookie = cookie_of(get(mw(counter, store=MemoryStore())))
    result = get(mw(untouched, store=down_store), cookie)
    assert (result.status_code, result.body) == (200, b"ok")


def test_down_store_error_the_app_turned_into_a_500_is_a_503(down_store: RedisStore) -> None:
    cookie = cookie_of(get(mw(counter, store=MemoryStore())))

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            increment(session_of(environ))
        except StoreUnavailableError:
            start_response("500 Internal Server Error", TEXT)
            return [b"framework error page"]
        start_response("200 OK", TEXT)
        return [b"ok"]

    assert get(mw(app, store=down_store), cookie).status_code == 503


def test_down_store_error_the_app_handled_gracefully_is_kept(down_store: RedisStore) -> None:
    cookie = cookie_of(get(mw(counter, store=MemoryStore())))

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            user = session_of(environ).get("user")
        except StoreUnavailableError:
            user = None
        start_response("200 OK", TEXT)
        return [repr(user).encode()]

    assert get(mw(app, store=down_store), cookie).body == b"None"


def test_down_store_met_before_the_first_chunk_gives_a_503(down_store: RedisStore) -> None:
    cookie = cookie_of(get(mw(counter, store=MemoryStore())))
    result = get(mw(streaming(increment, lambda s: None), store=down_store), cookie)
    assert result.status_code == 503


def test_down_store_met_after_the_first_chunk_propagates(down_store: RedisStore) -> None:
    cookie = cookie_of(get(mw(counter, store=MemoryStore())))
    with pytest.raises(StoreUnavailableError):
        get(mw(streaming(lambda s: None, increment), store=down_store), cookie)


def test_new_visitor_needs_no_store_even_when_it_is_down(down_store: RedisStore) -> None:
    assert get(mw(reader, store=down_store)).body == b"None"


def test_invalidate_while_the_store_is_down_cuts_the_response(
    down_store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    cookie = cookie_of(get(mw(counter, store=MemoryStore())))
    with caplog.at_level(logging.ERROR, "wsgikit.sessions"), pytest.raises(StoreUnavailableError):
        get(mw(action(Session.invalidate), store=down_store), cookie)
    assert "session not saved, the response is cut short" in caplog.text


def test_failing_custom_store_at_the_end_is_logged_and_cuts_the_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(MemoryStore):
        def save(self, session_id: str, payload: str, max_age: int) -> None:
            raise KeyError("a bug in the store")

    with caplog.at_level(logging.ERROR, "wsgikit.sessions"), pytest.raises(KeyError):
        get(mw(counter, store=Broken()))
    assert "KeyError: 'a bug in the store'" in caplog.text


# --- real backends through the middleware --------------------------------------------------------
@pytest.mark.integration
def test_round_trip_through_redis(redis_url: str) -> None:
    store = RedisStore(redis_url, prefix="mw:")
    try:
        app = mw(counter, store=store)
        first = get(app)
        assert get(app, cookie_of(first)).body == b"2"
    finally:
        store.close()


def test_two_sqlite_stores_on_one_file_share_sessions(tmp_path: Path) -> None:
    first, second = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    try:
        cookie = cookie_of(get(mw(counter, store=first)))
        assert get(mw(counter, store=second), cookie).body == b"2"
    finally:
        first.close()
        second.close()
