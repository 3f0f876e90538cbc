"""StaticFiles against WhiteNoise: files served per second, same files, same server, one run.

Two measures, each on a 1 KiB CSS, a 10 KiB JS and a 1 MiB binary file:

- in-process: the WSGI app called directly (no sockets), the body read to its end and closed,
  ``wsgi.file_wrapper`` being wsgiref's (so both read the file the same way);
- HTTP: each app behind wsgikit's HTTP server (threads, then inline) in a process pinned to
  core 0, wrk -t1 on core 1, best of ``--rounds`` runs taking turns.

Goal (issue 13): StaticFiles at least 1.5x WhiteNoise::

    python benchmarks/static_files.py --duration 3 --rounds 2
    python benchmarks/static_files.py --skip-http          # in-process only

Needs: pip install -e '.[bench]' (whitenoise), wrk and taskset for the HTTP part.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import FileWrapper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_server import free_port, wrk

ROOT = Path(__file__).resolve().parent.parent
FILES = {"1 KiB css": "site.css", "10 KiB js": "app.js", "1 MiB bin": "large.bin"}
PEERS = ("wsgikit", "whitenoise")


def make_files(directory: Path) -> None:
    line = b"body .item-%d { color: #333; margin: 0 auto; }\n"
    css = b"".join(line % n for n in range(40))
    (directory / "site.css").write_bytes(css[:1024])
    (directory / "app.js").write_bytes((b"function f(a){return a+1;}\n" * 400)[: 10 * 1024])
    (directory / "large.bin").write_bytes(os.urandom(1 << 20))


def not_found(environ: Any, start_response: Any) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return []


def build(peer: str, directory: str) -> Callable[..., Iterable[bytes]]:
    if peer == "wsgikit":
        from wsgikit.middleware import StaticFiles

        return StaticFiles(not_found, {"/static/": directory})
    from whitenoise import WhiteNoise

    return WhiteNoise(not_found, root=directory, prefix="/static/", max_age=60)  # type: ignore[no-any-return]


# -- in-process ------------------------------------------------------------------------------------


def in_process(app: Callable[..., Iterable[bytes]], path: str, seconds: float) -> float:
    """Requests per second: call, read the whole body, close; for ``seconds``."""
    base = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.file_wrapper": FileWrapper,
    }
    statuses = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return None

    count, start = 0, time.perf_counter()
    while time.perf_counter() < start + seconds:
        for _ in range(100):
            body = app(dict(base), start_response)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
        count += 100
    assert set(statuses) == {"200 OK"}, set(statuses)
    return count / (time.perf_counter() - start)


def in_process_table(directory: str, seconds: float, rounds: int) -> None:
    print(f"\n## In-process (best of {rounds} x {seconds:g} s; app called directly)\n")
    print("| file | wsgikit req/s | WhiteNoise req/s | ratio |\n|---|---:|---:|---:|")
    apps = {peer: build(peer, directory) for peer in PEERS}
    for label, name in FILES.items():
        best = dict.fromkeys(PEERS, 0.0)
        for _ in range(rounds):
            for peer in PEERS:
                best[peer] = max(best[peer], in_process(apps[peer], f"/static/{name}", seconds))
        ratio = best["wsgikit"] / best["whitenoise"]
        print(f"| {label} | {best['wsgikit']:,.0f} | {best['whitenoise']:,.0f} | {ratio:.2f}x |")


# -- over HTTP -------------------------------------------------------------------------------------


def run_server(peer: str, mode: str, port: int, directory: str) -> None:
    from wsgikit.servers.http import serve

    threads = 0 if mode == "inline" else 8
    serve(build(peer, directory), [f"127.0.0.1:{port}"], threads=threads)


@contextlib.contextmanager
def server(peer: str, mode: str, directory: str) -> Iterator[int]:
    port = free_port()
    command = ["taskset", "-c", "0", sys.executable, __file__, "serve", peer, mode, str(port)]
    proc = subprocess.Popen([*command, directory], cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{peer} ({mode}) did not start")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def http_table(directory: str, duration: int, rounds: int, connections: int) -> None:
    print(
        f"\n## Over HTTP (wsgikit's server; best of {rounds} rounds of wrk -t1 -c{connections} "
        f"-d{duration}s; server on core 0, wrk on 1)\n"
    )
    print("| file | server mode | wsgikit req/s | WhiteNoise req/s | ratio |")
    print("|---|---|---:|---:|---:|")
    for mode in ("threads", "inline"):
        best = {(peer, name): 0.0 for peer in PEERS for name in FILES.values()}
        for _ in range(rounds):
            for peer in PEERS:
                with server(peer, mode, directory) as port:
                    for name in FILES.values():
                        wrk(port, f"/static/{name}", 1, connections)  # warm-up
                        rate, _p99 = wrk(port, f"/static/{name}", duration, connections)
                        best[peer, name] = max(best[peer, name], rate)
        for label, name in FILES.items():
            ours, theirs = best["wsgikit", name], best["whitenoise", name]
            print(f"| {label} | {mode} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f}x |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per in-process run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args(argv)
    print(f"# benchmarks/static_files.py — Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as directory:
        make_files(Path(directory))
        in_process_table(directory, args.seconds, args.rounds)
        if not args.skip_http:
            http_table(directory, args.duration, args.rounds, args.connections)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        run_server(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main()
