"""FastCGI benchmark: nginx → wsgikit's FastCGI server against nginx → flup, hello world.

wsgikit runs with ``fastcgi_keep_conn on`` (an upstream keepalive pool); flup with keep-conn off,
its better setting (its WSGIServer does not handle kept connections well), threaded and
pre-forked, the faster of the two being the baseline. Each app server runs in its own process
pinned to core 0; nginx (one worker) and wrk run pinned to core 1. The servers take turns over a
few rounds and each one's best round counts; then req/s and the ratio to flup (goal: wsgikit
≥ 3x)::

    python benchmarks/fastcgi.py                        # 3 rounds of 5 s per server
    python benchmarks/fastcgi.py --rounds 1 --duration 10 --connections 32
    python benchmarks/fastcgi.py --smoke                # no load: each setup answers one request

Needs: nginx, wrk and taskset (Debian: nginx, wrk, util-linux); pip install flup.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from http_server import free_port

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ["wsgikit-threads", "wsgikit-inline", "flup-threaded", "flup-prefork"]
SERVER_CORE, CLIENT_CORE = "0", "1"


# -- the app server (run in a child process) ----------------------------------------------------


def run_server(kind: str, port: int) -> None:
    from apps import hello

    if kind.startswith("wsgikit"):
        from wsgikit.servers.fastcgi import serve_fcgi

        threads = 0 if kind == "wsgikit-inline" else 8
        serve_fcgi(hello, [f"127.0.0.1:{port}"], threads=threads)
    elif kind == "flup-threaded":
        from flup.server.fcgi import WSGIServer  # type: ignore[import-untyped, unused-ignore]

        WSGIServer(hello, bindAddress=("127.0.0.1", port), maxThreads=8).run()
    elif kind == "flup-prefork":
        from flup.server.fcgi_fork import WSGIServer as ForkServer  # type: ignore[import-untyped, unused-ignore]

        ForkServer(hello, bindAddress=("127.0.0.1", port), minSpare=4, maxChildren=8).run()
    else:
        raise SystemExit(f"unknown server {kind}")


# -- the measuring side ---------------------------------------------------------------------------


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)


@contextlib.contextmanager
def started(argv: list[str], port: int, what: str, log: Path) -> Iterator[None]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_port(port, proc, what)
        yield
    finally:
        # The whole process group: flup's pre-forked children too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(2)
        with contextlib.suppress(ProcessLookupError):  # stragglers: flup's children stay alive
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def nginx_config(folder: Path, port: int, backend: int, keep_conn: bool) -> Path:
    temp = "\n".join(
        f"    {kind}_temp_path {folder}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # The keepalive pool is what lets nginx send FCGI_KEEP_CONN and reuse connections.
    upstream = f"server 127.0.0.1:{backend};" + (" keepalive 64;" if keep_conn else "")
    text = f"""
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temp}
    upstream app {{ {upstream} }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            include {fastcgi_params()};
            fastcgi_pass app;
            fastcgi_keep_conn {"on" if keep_conn else "off"};
        }}
    }}
}}
"""
    path = folder / "nginx.conf"
    path.write_text(text)
    return path


def fastcgi_params() -> str:
    for folder in ("/etc/nginx", "/usr/local/nginx/conf", "/usr/local/etc/nginx"):
        if os.path.exists(f"{folder}/fastcgi_params"):
            return f"{folder}/fastcgi_params"
    raise SystemExit("nginx's fastcgi_params file is not installed")


@contextlib.contextmanager
def stack(kind: str, folder: Path) -> Iterator[int]:
    """The app server on core 0 and nginx in front of it on core 1; yields nginx's port."""
    backend, front = free_port(), free_port()
    server = ["taskset", "-c", SERVER_CORE, sys.executable, __file__, "serve", kind, str(backend)]
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    config = nginx_config(folder, front, backend, keep_conn=kind.startswith("wsgikit"))
    proxy = ["taskset", "-c", CLIENT_CORE, nginx, "-p", f"{folder}/", "-c", str(config)]
    proxy += ["-e", f"{folder}/error.log", "-g", "daemon off;"]
    with (
        started(server, backend, kind, folder / "server.log"),
        started(proxy, front, "nginx", folder / "nginx.log"),
    ):
        yield front


def wrk(port: int, duration: int, connections: int) -> tuple[float, int]:
    """(successful responses per second, failed responses): errors answer fast, so they never
    count as throughput (a gateway that drops connections gets 502s from nginx)."""
    command = [
        "taskset", "-c", CLIENT_CORE, "wrk", "-t1", f"-c{connections}", f"-d{duration}s",
        f"http://127.0.0.1:{port}/",
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s)", out)
    assert total, out
    seconds = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(failed.group(1)) if failed else 0
    return (int(total.group(1)) - errors) / seconds, errors


def smoke(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        return f"{response.status} {response.read()!r}"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "serve":
        run_server(args[1], int(args[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=5, help="seconds of one wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs each")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--smoke", action="store_true", help="one request each, no load")
    opts = parser.parse_args(args)
    kinds = opts.servers.split(",")
    print(f"# benchmarks/fastcgi.py — Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    results: dict[str, tuple[float, int]] = {}
    rounds = 1 if opts.smoke else opts.rounds
    with tempfile.TemporaryDirectory(prefix="wsgikit-fcgi-bench-") as tmp:
        for round_ in range(rounds):  # turns: a slow spell of the machine hits every server
            for kind in kinds:
                folder = Path(tmp) / f"{kind}-{round_}"
                folder.mkdir()
                folder.chmod(0o755)
                with stack(kind, folder) as port:
                    if opts.smoke:
                        print(f"{kind}: {smoke(port)}")
                        continue
                    wrk(port, 1, opts.connections)  # warm-up
                    ok, errors = wrk(port, opts.duration, opts.connections)
                if ok > results.get(kind, (-1.0, 0))[0]:
                    results[kind] = (ok, errors)
    if opts.smoke:
        return
    flup = max((ok for kind, (ok, _) in results.items() if kind.startswith("flup")), default=0.0)
    print(
        f"\nnginx → FastCGI, hello world (best of {rounds} rounds of "
        f"wrk -t1 -c{opts.connections} -d{opts.duration}s)\n"
    )
    print("| server | nginx keep_conn | ok req/s | failed responses | vs best flup |")
    print("|---|---|---:|---:|---:|")
    for kind, (ok, errors) in results.items():
        keep = "on" if kind.startswith("wsgikit") else "off"
        ratio = f"{ok / flup:.2f}x" if flup else "-"
        print(f"| {kind} | {keep} | {ok:,.0f} | {errors:,} | {ratio} |")


if __name__ == "__main__":
    main()
