"""gzip benchmark: GzipMiddleware against paste.gzipper on 100 KiB HTML pages, in one run.

Each contender wraps the same app (one ``[page]`` body, Content-Type text/html) and is called the
same way, many times; the best of several rounds counts. Prints MB/s of page compressed, the ratio
to paste.gzipper, compressed sizes, and the raw speed of each compressor (a one-shot compress at
the same level) so the middleware's own overhead shows as ``of raw``::

    python benchmarks/middleware_gzip.py                 # about 20 s
    python benchmarks/middleware_gzip.py --rounds 3 --seconds 0.2

Needs: pip install paste, and isal / zlib-ng for the fast backends (missing ones are skipped).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import os
import pydoc
import random
import sys
import time
from collections.abc import Callable, Iterable

from wsgikit.middleware.gzip import GzipMiddleware
from wsgikit.middleware.gzip._compressors import GZIP_BACKENDS, available, make_codec
from wsgikit.testing import make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

SIZE = 100 * 1024
LEVEL = 6
WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "on",
    "with",
    "that",
    "this",
    "are",
    "as",
    "be",
    "by",
    "from",
    "at",
    "or",
    "an",
    "it",
    "new",
    "your",
    "all",
    "can",
    "more",
    "about",
    "will",
    "has",
    "our",
    "not",
    "one",
    "which",
    "their",
    "you",
    "other",
    "page",
    "time",
    "search",
    "free",
    "information",
    "home",
    "site",
    "news",
    "read",
    "price",
    "order",
    "service",
    "product",
    "people",
    "contact",
    "review",
    "first",
    "web",
    "online",
    "email",
    "help",
    "world",
    "year",
    "day",
    "business",
    "like",
    "health",
    "data",
    "world",
    "travel",
    "account",
    "support",
    "city",
    "report",
    "music",
    "policy",
    "design",
    "market",
    "system",
    "community",
    "video",
    "public",
    "local",
    "learn",
    "company",
]


def catalogue_page(size: int = SIZE, seed: int = 4) -> bytes:
    """A product/news listing: navigation, then cards of links, metadata and prose."""
    rnd = random.Random(seed)
    nav = "".join(f'<li><a href="/{w}/">{w.title()}</a></li>' for w in WORDS[20:36])
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<title>Catalogue - page 2</title>\n<link rel="stylesheet" href="/static/site.css">\n'
        f'</head>\n<body>\n<header><nav><ul class="menu">{nav}</ul></nav></header>\n<main>\n'
    ]
    n = 0
    while sum(map(len, parts)) < size:
        n += 1
        text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(12, 40)))
        slug = "-".join(rnd.choice(WORDS) for _ in range(3))
        parts.append(
            f'<article class="card" id="item-{n}">\n'
            f'  <h2><a href="/items/{rnd.randint(1000, 99999)}/{slug}">'
            f"{text[:48].title()}</a></h2>\n"
            f'  <p class="meta">By <a href="/users/{rnd.randint(1, 5000)}">'
            f"user{rnd.randint(1, 5000)}</a> &middot; "
            f'<time datetime="2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}">'
            f"{rnd.randint(1, 59)} minutes ago</time> &middot; {rnd.randint(0, 900)} comments</p>\n"
            f"  <p>{text.capitalize()}.</p>\n"
            f'  <span class="price">${rnd.randint(1, 999)}.{rnd.randint(0, 99):02d}</span>\n'
            "</article>\n"
        )
    return "".join(parts).encode()[:size]


def pydoc_page(size: int = SIZE) -> bytes:
    """Real generated documentation (pydoc's HTML of stdlib modules): markup-heavy, regular."""
    parts: list[bytes] = []
    for name in ("http.client", "email.message", "argparse"):
        thing, _ = pydoc.resolve(name)  # type: ignore[misc]
        parts.append(
            pydoc.html.page(pydoc.describe(thing), pydoc.html.document(thing, name)).encode()
        )
    return b"".join(parts)[:size]


def page_app(page: bytes) -> WSGIApplication:
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page)))]

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", list(headers))
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


def measure(fn: Callable[[], object], nbytes: int, rounds: int, seconds: float) -> float:
    """Best MB/s over ``rounds`` rounds of about ``seconds`` each."""
    fn()
    start, loops = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 4:
        fn()
        loops += 1
    per = max(1, int(loops * 4))
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(per):
            fn()
        best = min(best, (time.perf_counter() - t0) / per)
    return nbytes / best / 1e6


def run(name: str, page: bytes, rounds: int, seconds: float) -> None:
    from paste.gzipper import middleware as paste_gzipper  # type: ignore[import-untyped]

    app = page_app(page)
    environ = make_environ("/items", headers={"Accept-Encoding": "gzip, deflate, br"})
    print(f"\n{name} page: {len(page)} bytes")
    contenders: list[tuple[str, WSGIApplication, Callable[[], object] | None]] = [
        ("paste.gzipper (zlib 6)", paste_gzipper(app, compress_level=LEVEL), None)
    ]
    installed = available()
    for backend in [b for b in GZIP_BACKENDS if b in installed]:
        codec = make_codec("gzip", LEVEL, backend)
        mw = GzipMiddleware(app, level=LEVEL, gzip_backend=backend)
        one_shot = functools.partial(codec.compress_all, [page])
        contenders.append((f"GzipMiddleware {backend} {codec.level}", mw, one_shot))
    paste_speed = paste_size = 0.0
    columns = ("MB/s", "x paste", "size", "vs paste", "raw MB/s", "of raw")
    print(f"  {'contender':28}" + "".join(f"{c:>10}" for c in columns))
    for label, wrapped, raw in contenders:
        body = call(wrapped, environ)
        assert gzip.decompress(body) == page, label  # always valid gzip, same content
        speed = measure(functools.partial(call, wrapped, environ), len(page), rounds, seconds)
        if not paste_speed:
            paste_speed, paste_size = speed, len(body)
        size_diff = len(body) / paste_size - 1
        line = (
            f"  {label:28}{speed:10.1f}{speed / paste_speed:10.2f}{len(body):10d}{size_diff:+10.1%}"
        )
        if raw is not None:
            raw_speed = measure(raw, len(page), rounds, seconds)
            line += f"{raw_speed:10.1f}{speed / raw_speed:10.2f}"
        print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="rounds per contender (best counts)")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one round")
    parser.add_argument("--core", type=int, default=None, help="pin to this CPU core")
    args = parser.parse_args(argv)
    if args.core is not None:
        os.sched_setaffinity(0, {args.core})
    print(f"python {sys.version.split()[0]}; gzip backends installed: {', '.join(available())}")
    for name, page in (("catalogue", catalogue_page()), ("pydoc", pydoc_page())):
        run(name, page, args.rounds, args.seconds)


if __name__ == "__main__":
    main()
