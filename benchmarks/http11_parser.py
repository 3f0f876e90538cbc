"""Micro benchmark of the HTTP/1.1 request parser (wsgikit._http11), no sockets.

Four workloads, each timed as the best of several runs, in microseconds per request: (a) a
typical 300-byte GET head fed whole to a keep-alive parser, (b) a 1 MB chunked body (4 KiB
chunks) fed in 64 KiB pieces, (c) the same GET head fed byte by byte, (d) a POST head with a
100-byte body in one feed (the head is not the whole feed, so no short cut). Pin it to one core,
and compare two checkouts in one sitting::

    taskset -c 1 python benchmarks/http11_parser.py
    taskset -c 1 python benchmarks/http11_parser.py --repeat 15 --workload whole
"""

from __future__ import annotations

import argparse
import time
import timeit
from collections.abc import Callable

from wsgikit._http11 import END_OF_MESSAGE, RequestParser

HEAD = (
    b"GET /api/items?page=2&sort=name HTTP/1.1\r\n"
    b"Host: app.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: application/json, text/plain, */*\r\n"
    b"Accept-Language: en-GB,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Cookie: a=1\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
)
BODY_SIZE, CHUNK, FEED = 1 << 20, 4096, 64 << 10


def chunked_request() -> list[bytes]:
    """A POST with a 1 MB chunked body, cut into 64 KiB feeds."""
    head = b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = b"%x\r\n" % CHUNK + b"x" * CHUNK + b"\r\n"
    raw = head + piece * (BODY_SIZE // CHUNK) + b"0\r\n\r\n"
    return [raw[i : i + FEED] for i in range(0, len(raw), FEED)]


CHUNKED_FEEDS = chunked_request()
POST = HEAD.replace(b"GET", b"POST", 1).replace(b"\r\n\r\n", b"\r\nContent-Length: 100\r\n\r\n")
POST_FEED = POST + b"x" * 100
BYTES = [HEAD[i : i + 1] for i in range(len(HEAD))]


def one_feed(data: bytes) -> Callable[[int], None]:
    """n requests on one keep-alive parser, each ``data`` fed whole."""

    def run(n: int) -> None:
        feed = RequestParser().feed
        for _ in range(n):
            events = feed(data)
            assert events[-1] is END_OF_MESSAGE

    return run


def chunked(n: int) -> None:
    for _ in range(n):
        parser = RequestParser()
        size = 0
        for piece in CHUNKED_FEEDS:
            for event in parser.feed(piece):
                if type(event) is bytes:
                    size += len(event)
        assert size == BODY_SIZE


def byte_by_byte(n: int) -> None:
    parser = RequestParser()
    feed = parser.feed
    for _ in range(n):
        for piece in BYTES:
            feed(piece)


WORKLOADS: dict[str, tuple[Callable[[int], None], int]] = {
    "whole": (one_feed(HEAD), 20000),  # requests a run
    "chunked": (chunked, 20),
    "byte": (byte_by_byte, 500),
    "post": (one_feed(POST_FEED), 20000),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="runs per workload; the best counts")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), action="append")
    args = parser.parse_args()
    print(f"head: {len(HEAD)} bytes")
    for name in args.workload or list(WORKLOADS):
        func, n = WORKLOADS[name]
        # CPU time of this process: time spent descheduled (a busy core) does not count.
        timer = timeit.Timer(lambda: func(n), timer=time.process_time)  # noqa: B023
        best = min(timer.repeat(repeat=args.repeat, number=1))
        print(f"{name:8} {best / n * 1e6:10.2f} us/request")


if __name__ == "__main__":
    main()
