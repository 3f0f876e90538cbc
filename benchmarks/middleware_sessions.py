"""sessions benchmark: a cookie-session read+write round trip, wsgikit against beaker, in one run.

Each request brings the signed cookie a previous response set; the app reads a counter from the
session, writes it back incremented, and the middleware answers with a new signed Set-Cookie.
Both sides sign with HMAC and keep JSON (beaker with ``data_serializer="json"``, no encryption),
and are called the same way, many times; the best of several rounds counts. The goal (issue 4):
at least 2x beaker's round trips per second::

    python benchmarks/middleware_sessions.py                 # about 10 s
    python benchmarks/middleware_sessions.py --rounds 3 --seconds 0.2

Needs: pip install beaker.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from wsgikit.middleware.sessions import SessionMiddleware
from wsgikit.testing import make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

SECRET = "benchmark-secret-0123456789abcdef"
GOAL = 2.0


def counter_app(key: str, save: bool) -> WSGIApplication:
    """Read a counter and a user name from the session, write the counter back incremented."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        session = environ[key]
        count = session.get("count", 0) + 1
        session["count"] = count
        body = b"%d %s" % (count, session.setdefault("user", "alice").encode())
        if save:  # beaker saves on save() (or session.auto); wsgikit saves what was modified
            session.save()
        headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [body]

    return app


def contenders() -> dict[str, WSGIApplication]:
    found: dict[str, WSGIApplication] = {
        "wsgikit": SessionMiddleware(counter_app("wsgikit.session", save=False), secret=SECRET)
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # beaker and WebOb import deprecated stdlib modules
            from beaker.middleware import (  # type: ignore[import-untyped, unused-ignore]
                SessionMiddleware as BeakerMiddleware,
            )
    except ImportError:
        print("beaker not installed (pip install beaker): measuring wsgikit alone")
        return found
    config = {
        "session.type": "cookie",
        "session.key": "session",
        "session.validate_key": SECRET,
        "session.data_serializer": "json",
        "session.httponly": True,
        "session.cookie_expires": 14 * 86400,
    }
    found["beaker"] = BeakerMiddleware(counter_app("beaker.session", save=True), config)
    return found


def first_cookie(app: WSGIApplication) -> str:
    """The session cookie a first visit gets, as ``name=value``."""
    headers: list[tuple[str, str]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], *_: Any) -> Any:
        headers.extend(response_headers)
        return lambda data: None

    b"".join(app(make_environ("/"), start_response))
    cookies = [v for k, v in headers if k.lower() == "set-cookie"]
    if not cookies:
        raise SystemExit(f"{app!r} set no cookie")
    return cookies[0].strip().split(";", 1)[0]  # beaker writes " session=..."


def round_trip(app: WSGIApplication, cookie: str) -> Callable[[], None]:
    base = make_environ("/", headers={"Cookie": cookie})

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> Any:
        if not any(name.lower() == "set-cookie" for name, _ in headers):
            raise SystemExit("no Set-Cookie in the round trip")
        return None

    def once() -> None:
        result = app(dict(base), start_response)
        for _ in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()

    return once


def measure(once: Callable[[], None], seconds: float) -> float:
    """Round trips per second over about ``seconds``."""
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            once()
        count += 100
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="per contender per round")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core: steadier figures
    apps = contenders()
    runs = {name: round_trip(app, first_cookie(app)) for name, app in apps.items()}
    best = dict.fromkeys(runs, 0.0)
    for _ in range(args.rounds):  # interleaved, so drift hits every contender alike
        for name, once in runs.items():
            best[name] = max(best[name], measure(once, args.seconds))
    print(f"cookie-session read+write round trip, best of {args.rounds} rounds:")
    for name, rate in best.items():
        print(f"  {name:8} {rate:10,.0f} req/s  {1e6 / rate:7.1f} us/req")
    if "beaker" in best:
        ratio = best["wsgikit"] / best["beaker"]
        verdict = "meets" if ratio >= GOAL else "MISSES"
        print(f"  wsgikit / beaker = {ratio:.2f}x ({verdict} the {GOAL:.0f}x goal)")


if __name__ == "__main__":
    main()
