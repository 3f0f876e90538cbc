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
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import FileWrapper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fastcgi import wait_for_port
from http_server import free_port, wrk
from middleware_stack import per_request

from wsgikit import call_app, make_environ

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
    """Requests per second: fresh environ, the whole body read, close(); for ``seconds``."""
    environ = make_environ(path, **{"wsgi.file_wrapper": FileWrapper})
    status = call_app(app, dict(environ)).status  # one checked call: the file is found
    assert status == "200 OK", (path, status)
    return 1 / per_request(app, environ, seconds)


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
        wait_for_port(port, proc, f"{peer} ({mode})")
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
