"""Memory for request bodies during and after a burst of slow uploads: wsgikit against waitress.

300 clients each start a 2 MB upload, send half of it and stall; then they all finish and leave.
The server's RSS is read before, while the uploads wait, and a few seconds after they are done:
bodies that wait must cost bounded memory, and that memory must come back::

    python benchmarks/upload_burst.py                # wsgikit threads and inline, waitress
    python benchmarks/upload_burst.py --clients 100

Needs: taskset (util-linux), pip install waitress.
"""

from __future__ import annotations

import argparse
import socket
import time

from http_server import rss_mb, server

SERVERS = ["wsgikit-threads", "wsgikit-inline", "waitress"]
BODY = 2 << 20


def settle(pid: int, seconds: float = 1.0) -> float:
    """The RSS once it stopped changing for ``seconds`` (at most 10 s of waiting)."""
    last, deadline = rss_mb(pid), time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(seconds)
        now = rss_mb(pid)
        if abs(now - last) < 0.5:
            return now
        last = now
    return last


def burst(kind: str, clients: int) -> tuple[float, float, float]:
    """(RSS before, while the uploads wait, after they are done) in MB."""
    block = b"u" * (1 << 16)
    head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % BODY
    with server(kind, "big") as (port, pid):
        before = settle(pid, 0.3)
        socks = []
        for _ in range(clients):
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            sock.sendall(head)
            for _ in range(BODY // 2 // len(block)):
                sock.sendall(block)
            socks.append(sock)
        waiting = settle(pid)
        for sock in socks:
            for _ in range(BODY // 2 // len(block)):
                sock.sendall(block)
        for sock in socks:
            answer = b""
            while not answer.endswith(str(BODY).encode()):
                data = sock.recv(65536)
                assert data, answer[-80:]
                answer += data
            sock.close()
        after = settle(pid, 2.0)
    return before, waiting, after


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--servers", nargs="+", default=SERVERS, choices=SERVERS)
    args = parser.parse_args(argv)
    print(f"\n## {args.clients} uploads of {BODY >> 20} MB, stalled halfway: server RSS (MB)\n")
    print("| server | before | while waiting | after | kept after |")
    print("|---|---:|---:|---:|---:|")
    for kind in args.servers:
        before, waiting, after = burst(kind, args.clients)
        print(f"| {kind} | {before:.1f} | {waiting:.1f} | {after:.1f} | {after - before:+.1f} |")


if __name__ == "__main__":
    main()
