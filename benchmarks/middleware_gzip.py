"""gzip benchmark: GzipMiddleware's levels against zlib and paste.gzipper on real HTML, one run.

The pages are real HTML of about 100 KiB, generated at run time from what every Python install
ships: pydoc's HTML of twelve stdlib modules, IDLE's Sphinx-built help page and a difflib.HtmlDiff
table. Every contender compresses every page (speed: the whole set's bytes over the best of several
rounds; size: the sum, and the worst page's ratio). Three parts:

- goals: level 1 against GzipMiddleware forced onto zlib at level 1 (>= 3.5x at <= 1.02x size);
  level 6 against paste.gzipper at level 6 (>= 1.8x at <= 1.01x size);
- levels: for each level 1..9, the default choice against zlib at that level (the README table);
- ``--candidates``: every isal / zlib-ng level against each zlib level, raw, the fastest within 2%
  of zlib's size on every page first: how the table in ``_compressors.py`` was chosen::

    python benchmarks/middleware_gzip.py                  # goals and levels, about 60 s
    python benchmarks/middleware_gzip.py --candidates --rounds 3 --seconds 0.2

Needs: pip install paste, and isal / zlib-ng for the fast backends (missing ones are skipped).
"""

from __future__ import annotations

import argparse
import difflib
import functools
import gzip
import importlib
import os
import pydoc
import sys
import sysconfig
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from wsgikit.middleware.gzip import GzipMiddleware
from wsgikit.middleware.gzip._compressors import GZIP_BACKENDS, available, make_codec
from wsgikit.testing import make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

SIZE = 100 * 1024
MODULES = (
    "http.client",
    "collections",
    "typing",
    "pathlib",
    "logging",
    "decimal",
    "ipaddress",
    "xml.dom.minidom",
    "smtplib",
    "inspect",
    "configparser",
    "socket",
)
BACKEND_LEVELS = {"isal": range(4), "zlib-ng": range(1, 10), "zlib": range(1, 10)}
Pages = dict[str, bytes]


def pydoc_page(name: str) -> bytes:
    """pydoc's HTML page for a module, as ``python -m pydoc -w`` writes it."""
    thing, _ = pydoc.resolve(name)  # type: ignore[misc]
    return pydoc.html.page(pydoc.describe(thing), pydoc.html.document(thing, name)).encode()


def real_pages(size: int = SIZE) -> Pages:
    """About 100 KiB of each real page (pydoc x 12, IDLE's help when shipped, a difflib table)."""
    pages = {name: pydoc_page(name)[:size] for name in MODULES}
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    idle_help = stdlib / "idlelib" / "help.html"
    if idle_help.exists():  # Debian ships idlelib in its own package
        pages["idle-help"] = idle_help.read_bytes()[:size]
    old = (stdlib / "difflib.py").read_text().splitlines()[:400]
    new = old[:150] + (stdlib / "textwrap.py").read_text().splitlines()[:250]
    pages["htmldiff"] = difflib.HtmlDiff().make_file(old, new).encode()[:size]
    return pages


def page_app(pages: Pages) -> WSGIApplication:
    """Serves each page at /<name> as text/html with a Content-Length."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        page = pages[environ["PATH_INFO"][1:]]
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page)))]
        start_response("200 OK", headers)
        return [page]

    return app


def call(app: WSGIApplication, environ: WSGIEnvironment) -> bytes:
    """A minimal server: start_response, join the body, close."""

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], None]:
        return lambda data: None

    result = app(dict(environ), start_response)
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def race(contenders: list[Contender], rounds: int, seconds: float) -> list[float]:
    """Each contender's best MB/s over ``rounds`` rounds of about ``seconds`` each, the rounds
    taken in turn so a busy machine slows every contender alike. Time is this thread's CPU time
    (compression is CPU-bound): other processes on a shared machine do not count against it."""
    loops = [max(1, round(seconds / c.once())) for c in contenders]
    best = [float("inf")] * len(contenders)
    for _ in range(rounds):
        for i, (contender, n) in enumerate(zip(contenders, loops, strict=True)):
            t0 = time.thread_time()
            for _ in range(n):
                contender.run()
            best[i] = min(best[i], (time.thread_time() - t0) / n)
    return [c.nbytes / t / 1e6 for c, t in zip(contenders, best, strict=True)]


class Contender:
    """One way to compress every page: its outputs (checked) and its speed over all of them."""

    def __init__(self, label: str, compress: Callable[[str], bytes], pages: Pages) -> None:
        self.label = label
        self.sizes: dict[str, int] = {}
        for name, page in pages.items():
            body = compress(name)
            assert gzip.decompress(body) == page, (label, name)  # valid gzip, same content
            self.sizes[name] = len(body)
        self.run = functools.partial(lambda names: [compress(n) for n in names], list(pages))
        self.nbytes = sum(map(len, pages.values()))

    def once(self) -> float:
        """Seconds for one pass over every page (the second of two, warm)."""
        self.run()
        t0 = time.thread_time()
        self.run()
        return time.thread_time() - t0

    def vs(self, other: Contender) -> tuple[float, float]:
        """(total size ratio, worst page's size ratio) against another contender."""
        total = sum(self.sizes.values()) / sum(other.sizes.values())
        return total, max(self.sizes[name] / other.sizes[name] for name in self.sizes)


def through(app: WSGIApplication) -> Callable[[str], bytes]:
    environ = make_environ("/", headers={"Accept-Encoding": "gzip, deflate, br"})
    return lambda name: call(app, {**environ, "PATH_INFO": "/" + name})


def middleware(pages: Pages, level: int, backend: str | None = None) -> Contender:
    app = GzipMiddleware(page_app(pages), level=level, gzip_backend=backend)
    codec = make_codec("gzip", level, backend)
    return Contender(f"GzipMiddleware {level} ({codec.backend} {codec.level})", through(app), pages)


def paste(pages: Pages, level: int) -> Contender:
    from paste.gzipper import middleware as paste_gzipper  # type: ignore[import-untyped]

    app = paste_gzipper(page_app(pages), compress_level=level)
    return Contender(f"paste.gzipper {level} (zlib)", through(app), pages)


def raw(pages: Pages, backend: str, level: int) -> Contender:
    module: Any = importlib.import_module(GZIP_BACKENDS[backend])
    return Contender(f"{backend} {level}", lambda n: module.compress(pages[n], level, 31), pages)


def row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def goal_line(mine: Contender, peer: Contender, want_speed: float, want_size: float, a: Any) -> str:
    speed, peer_speed = race([mine, peer], a.rounds, a.seconds)
    total, worst = mine.vs(peer)
    met = speed / peer_speed >= want_speed and total <= want_size
    return row(
        (
            mine.label,
            f"{speed:,.0f}",
            f"{peer.label} {peer_speed:,.0f}",
            f"{speed / peer_speed:.2f}x",
            f"{total:.3f}x (worst page {worst:.3f}x)",
            f">= {want_speed}x at <= {want_size}x size: {'met' if met else 'NOT met'}",
        )
    )


def goals(pages: Pages, a: Any) -> None:
    print("\n| contender | MB/s | peer MB/s | speed | size | goal |\n|---|---:|---:|---:|---:|---|")
    print(goal_line(middleware(pages, 1), middleware(pages, 1, "zlib"), 3.5, 1.02, a))
    print(goal_line(middleware(pages, 6), paste(pages, 6), 1.8, 1.01, a))
    # What would meet the level 6 goal on the total, were it not up to 6.7% larger on some pages.
    print(goal_line(raw(pages, "zlib-ng", 6), paste(pages, 6), 1.8, 1.01, a))


def levels(pages: Pages, a: Any) -> None:
    print("\n| level | backend | MB/s | zlib MB/s | speed vs zlib | size vs zlib (worst page) |")
    print("|---:|---|---:|---:|---:|---:|")
    for level in range(1, 10):
        mine, ref = middleware(pages, level), middleware(pages, level, "zlib")
        speed, ref_speed = race([mine, ref], a.rounds, a.seconds)
        total, worst = mine.vs(ref)
        backend = mine.label.split("(")[1].rstrip(")")
        cells = (level, backend, f"{speed:,.0f}", f"{ref_speed:,.0f}", f"{speed / ref_speed:.2f}x")
        print(row((*cells, f"{total:.3f}x ({worst:.3f}x)")))


def candidates(pages: Pages, a: Any) -> None:
    """Each backend level's raw speed and size against each zlib level, fastest first."""
    installed = available()
    every = [
        raw(pages, backend, level)
        for backend, levels in BACKEND_LEVELS.items()
        if backend in installed
        for level in levels
    ]
    speeds = dict(zip(every, race(every, a.rounds, a.seconds), strict=True))
    for level in range(1, 10):
        ref = next(c for c in every if c.label == f"zlib {level}")
        fits = [c for c in every if c.vs(ref)[1] <= 1.02]  # the worst page within 2%
        fits.sort(key=lambda c: -speeds[c])
        print(
            f"zlib {level}: "
            + " | ".join(
                f"{c.label} {speeds[c] / speeds[ref]:.2f}x, worst {c.vs(ref)[1]:.3f}"
                for c in fits[:4]
            )
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="rounds per contender (best counts)")
    parser.add_argument("--seconds", type=float, default=0.3, help="length of one round")
    parser.add_argument("--core", type=int, default=None, help="pin to this CPU core")
    parser.add_argument("--candidates", action="store_true", help="how the level table was chosen")
    args = parser.parse_args(argv)
    if args.core is not None:
        os.sched_setaffinity(0, {args.core})
    pages = real_pages()
    print(f"python {sys.version.split()[0]}; gzip backends installed: {', '.join(available())}")
    print(f"{len(pages)} pages, {sum(map(len, pages.values())):,} bytes: {', '.join(pages)}")
    if args.candidates:
        candidates(pages, args)
        return
    goals(pages, args)
    levels(pages, args)


if __name__ == "__main__":
    main()
