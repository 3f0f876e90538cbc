"""SessionMiddleware asks the store once per distinct session id a request offers, and at most
MAX_CANDIDATES times: a Cookie header that repeats ids costs no more than one that does not."""

from __future__ import annotations

import secrets

from tests.middleware.session_helpers import Recording, cookie_of, counter, get, mw
from wsgikit.middleware.sessions._codec import MAX_CANDIDATES


def loads(store: Recording) -> list[str]:
    return [sid for call, sid in store.calls if call == "load"]


def test_a_repeated_session_cookie_is_looked_up_once() -> None:
    store = Recording()
    app = mw(counter, store=store)
    cookie = cookie_of(get(app))
    store.delete(store.saved_ids()[0])  # expired from the store: every lookup misses
    store.calls.clear()
    result = get(app, "; ".join([cookie] * 600))
    assert (result.body, len(loads(store))) == (b"1", 1)


def test_distinct_session_cookies_are_capped() -> None:
    store = Recording()
    app = mw(counter, store=store)
    forged = [app.codec.sign_id(secrets.token_urlsafe(32)) for _ in range(20)]
    get(app, "; ".join(f"wsgikit_session={value}" for value in forged))
    assert len(loads(store)) == MAX_CANDIDATES == 8
