"""Dispatch benchmark: wsgikit's Dispatcher against werkzeug's DispatcherMiddleware, paste's URLMap.

All three hold the same 1,000 mounts (one to five segments deep) and route the same request, in one
run: the goal is the deepest mount (``/svc999/l0/l1/l2/l3`` + ``/items/42``); a one-segment mount
under a deep path is shown too. Each call gets a fresh copy of the environ (as from a server; the
peers and wsgikit all update it in place) and the body is read and closed. Best of several rounds,
contenders interleaved; prints calls/s and the ratio of wsgikit to each peer::

    python benchmarks/middleware_dispatch.py                  # about 15 s
    python benchmarks/middleware_dispatch.py --rounds 3 --seconds 0.3

Needs: pip install werkzeug paste.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable

from wsgikit.middleware.dispatch import Dispatcher
from wsgikit.testing import make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

MOUNTS = 1000
BODY = b"ok"
SCENARIOS = {
    # name: (request path, the mount it must reach)
    "deepest mount": ("/svc999/l0/l1/l2/l3/items/42", "/svc999/l0/l1/l2/l3"),
    "shallow mount, deep path": ("/svc000/a/b/c/d/e/f/g", "/svc000"),
}


def leaf(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [BODY]


def not_found(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return []


def mount_keys() -> list[str]:
    """1,000 prefixes, one to five segments deep: /svc000, /svc001/l0, ... /svc999/l0/l1/l2/l3."""
    return ["/" + "/".join([f"svc{i:03}"] + [f"l{k}" for k in range(i % 5)]) for i in range(MOUNTS)]


def contenders() -> dict[str, WSGIApplication]:
    from paste.urlmap import URLMap  # type: ignore[import-untyped]
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    keys = mount_keys()
    urlmap = URLMap(not_found_app=not_found)
    for key in keys:
        urlmap[key] = leaf
    return {
        "wsgikit": Dispatcher(dict.fromkeys(keys, leaf), not_found=not_found),
        "werkzeug": DispatcherMiddleware(not_found, dict.fromkeys(keys, leaf)),
        "paste": urlmap,
    }


def _start_response(
    status: str, headers: list[tuple[str, str]], exc_info: object = None
) -> Callable[[bytes], None]:
    return lambda data: None


def runner(app: WSGIApplication, base: WSGIEnvironment) -> Callable[[int], None]:
    """``run(n)``: n requests, each with a fresh environ, the body read and closed."""
    start_response: StartResponse = _start_response

    def run(n: int) -> None:
        copy = base.copy
        for _ in range(n):
            result = app(copy(), start_response)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()

    return run


def check(name: str, app: WSGIApplication, base: WSGIEnvironment, mount: str) -> None:
    """Make sure the contender routes the request where it should, before timing it."""
    environ = base.copy()
    seen: list[str] = []
    status: list[str] = []

    def start_response(
        s: str, h: list[tuple[str, str]], e: object = None
    ) -> Callable[[bytes], None]:
        status.append(s)
        seen.append(environ.get("SCRIPT_NAME", ""))
        return lambda data: None

    body = b"".join(app(environ, start_response))
    if status != ["200 OK"] or body != BODY or seen != [mount]:
        raise SystemExit(f"{name} routed {base['PATH_INFO']} wrong: {status} {seen}")


def best_rate(run: Callable[[int], None], seconds: float) -> float:
    """Calls/s of one round of about ``seconds``."""
    n = 1000
    while True:
        start = time.perf_counter()
        run(n)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 5:
            break
        n *= 4
    n = max(1, int(n * seconds / elapsed))
    start = time.perf_counter()
    run(n)
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best counts")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one measurement")
    args = parser.parse_args(argv)
    apps = contenders()
    print(f"{MOUNTS} mounts, best of {args.rounds} rounds, calls/s (higher is better)")
    for scenario, (path, mount) in SCENARIOS.items():
        base = make_environ(path)
        for name, app in apps.items():
            check(name, app, base, mount)
        rates = dict.fromkeys(apps, 0.0)
        for _ in range(args.rounds):
            for name, app in apps.items():
                rates[name] = max(rates[name], best_rate(runner(app, base), args.seconds))
        print(f"\n{scenario}: {path}")
        for name, rate in rates.items():
            print(f"  {name:10} {rate:12,.0f} calls/s")
        ours = rates["wsgikit"]
        print(
            f"  wsgikit / werkzeug = {ours / rates['werkzeug']:.2f}x (goal >= 1.2x on the deepest)"
        )
        print(f"  wsgikit / paste    = {ours / rates['paste']:.1f}x (goal >= 30x on the deepest)")


if __name__ == "__main__":
    main()
