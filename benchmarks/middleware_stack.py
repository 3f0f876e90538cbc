"""What the five core middleware cost when they have nothing to do, against the paste-era stack.

The app answers a small incompressible body with a Content-Length; the client asks for gzip and
sends no cookie, and the app never touches its session. So every layer only looks and passes on.
Prints the per-request cost each stack adds over the bare app, in one run (best of rounds)::

    python benchmarks/middleware_stack.py [--rounds 5] [--seconds 0.5]

wsgikit: ErrorMiddleware, GzipMiddleware, SessionMiddleware, ContentLengthMiddleware, Dispatcher.
paste:   paste ErrorMiddleware, paste.gzipper, beaker's SessionMiddleware, paste URLMap.
"""

from __future__ import annotations

import argparse
import functools
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from wsgikit import make_environ, pipeline
from wsgikit.middleware import (
    ContentLengthMiddleware,
    Dispatcher,
    ErrorMiddleware,
    GzipMiddleware,
    SessionMiddleware,
)
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

BODY = b"\x89PNG\r\n" + bytes(range(256)) * 2
SECRET = "0123456789abcdef0123456789abcdef"


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "image/png"), ("Content-Length", str(len(BODY)))])
    return [BODY]


def wsgikit_stack() -> WSGIApplication:
    return pipeline(
        ErrorMiddleware,
        GzipMiddleware,
        functools.partial(SessionMiddleware, secret=SECRET),
        ContentLengthMiddleware,
        app=Dispatcher({"/": app}),
    )


def paste_stack() -> WSGIApplication:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from beaker.middleware import SessionMiddleware as BeakerSessions
        from paste.exceptions.errormiddleware import ErrorMiddleware as PasteErrors
        from paste.gzipper import middleware as paste_gzip
        from paste.urlmap import URLMap

    urlmap = URLMap()
    urlmap["/"] = app
    sessions = BeakerSessions(
        urlmap,
        {
            "session.type": "cookie",
            "session.validate_key": SECRET,
            "session.encrypt_key": SECRET,
            "session.data_serializer": "json",
        },
    )
    return PasteErrors(paste_gzip(sessions), debug=False)  # type: ignore[no-any-return]


def _start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
    return lambda data: None


def per_request(wsgi: WSGIApplication, base: WSGIEnvironment, seconds: float) -> float:
    """Seconds per request: fresh environ copy, full iteration, close()."""
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(200):
            environ = base.copy()
            result = wsgi(environ, _start_response)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()
        count += 200
        now = time.perf_counter()
        if now >= deadline:
            return (now - started) / count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best counts")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one measurement")
    opts = parser.parse_args(argv)
    base = make_environ("/", headers={"Accept-Encoding": "gzip, deflate"})
    base.pop("wsgi.input", None)
    stacks = {"bare app": app, "wsgikit": wsgikit_stack(), "paste + beaker": paste_stack()}
    best = {
        name: min(per_request(stack, base, opts.seconds) for _ in range(opts.rounds))
        for name, stack in stacks.items()
    }
    bare = best["bare app"]
    print("\n## Five middleware with nothing to do (best of rounds)\n")
    print("| stack | us/request | added over the bare app |\n|---|---:|---:|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds * 1e6:.2f} | {(seconds - bare) * 1e6:.2f} us |")
    ours, theirs = best["wsgikit"] - bare, best["paste + beaker"] - bare
    print(f"\nwsgikit adds {ours / theirs:.2f}x what paste + beaker add (goal: at most 1.00x)")


if __name__ == "__main__":
    main()
