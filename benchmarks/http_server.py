"""HTTP server benchmark: wsgikit (threads, inline) against waitress, gunicorn (gthread), cheroot.

Every server runs the same app in its own process pinned to core 0; wrk runs pinned to core 1, with
the same duration and connections for all, in one run; the servers take turns over a few rounds
and each one's best round counts. Prints req/s, p99 latency and the ratio to
waitress; then TLS (wsgikit against gunicorn gthread with ``--certfile/--keyfile``, the same
self-signed certificate made with the openssl CLI, keep-alive hello over https), the multi-core
row (``wsgikit serve --workers 2`` against gunicorn gthread and granian with 2 workers each;
wsgikit with 1 worker for the ratio, and with 2 workers on ``--reuse-port`` sockets: every server
gets both cores 0 and 1, and wrk shares them, pinned to the same two), the C10K check (10,000
idle keep-alive connections while wrk drives 50 active ones) and the big-body check (1 GiB up
and down, the server's peak RSS growth)::

    python benchmarks/http_server.py                    # everything (about 5 minutes)
    python benchmarks/http_server.py --rounds 1 --skip-c10k --skip-bigbody
    python benchmarks/http_server.py --skip-throughput --skip-c10k --skip-bigbody  # TLS, multi-core

Needs: wrk and taskset (Debian: wrk, util-linux), pip install -e '.[bench]' (waitress, gunicorn,
cheroot, granian).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from compiled_tree import compiled_tree, describe

ROOT = Path(__file__).resolve().parent.parent
SERVERS = [
    *("wsgikit-threads", "wsgikit-inline", "wsgikit-inline-compiled"),
    *("waitress", "gunicorn-gthread", "cheroot", "granian-w1"),
]
APPS = {"hello": "/", "realistic": "/api/items?page=2"}
TLS_SERVERS = ["wsgikit-threads-tls", "wsgikit-inline-tls", "gunicorn-gthread-tls"]
SERVER_CORE, CLIENT_CORE = "0", "1"
TLS_DIR = "BENCH_TLS_DIR"  # environment: where cert.pem and key.pem are, for the server child
# The multi-core row: N worker processes of each server on both cores, wrk on the same two
# (--multicore-cores SERVER/WRK moves them, e.g. 0,1/2 on a machine with a third core for wrk).
MULTICORE = [
    "wsgikit-w1",
    "wsgikit-w2",
    "wsgikit-reuse-port-w2",
    "wsgikit-compiled-w1",
    "wsgikit-compiled-w2",
    "gunicorn-gthread-w2",
    "granian-w2",
]
# Servers whose name has "-compiled" run the mypyc build (benchmarks/compiled_tree.py): main()
# builds it once, and server() puts it first on their PYTHONPATH. Without it they are left out.
COMPILED: list[Path] = []


def available(kinds: list[str]) -> list[str]:
    """``kinds`` without the compiled servers when there is no compiled build."""
    return [kind for kind in kinds if COMPILED or "-compiled" not in kind]


BOTH_CORES = "0,1"


# -- the server side (run in a child process) ------------------------------------------------------


def _sink(environ: Any, start_response: Any) -> Iterable[bytes]:
    stream = environ["wsgi.input"]
    total = 0
    while chunk := stream.read(65536):
        total += len(chunk)
    body = str(total).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _source(environ: Any, start_response: Any) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    block = b"x" * 65536
    for _ in range((1 << 30) // len(block)):
        yield block


def _big(environ: Any, start_response: Any) -> Iterable[bytes]:
    return (_sink if environ["REQUEST_METHOD"] == "POST" else _source)(environ, start_response)


def run_server(kind: str, app_name: str, port: int, idle_timeout: float) -> None:
    if "-w" in kind:  # a server of worker processes, run by its own command line
        # -P: no checkout first on sys.path, so a compiled server's PYTHONPATH decides (server())
        os.execvp(
            sys.executable, [sys.executable, "-P", "-m", *_workers_command(kind, app_name, port)]
        )
    import apps

    app = _big if app_name == "big" else getattr(apps, app_name)
    tls_dir = os.environ.get(TLS_DIR) if kind.endswith("-tls") else None
    cert, key = (f"{tls_dir}/cert.pem", f"{tls_dir}/key.pem") if tls_dir else ("", "")
    kind = kind.removesuffix("-tls")
    if kind.startswith("wsgikit"):
        from wsgikit.servers._tls import TLSConfig
        from wsgikit.servers.http import serve

        threads = 0 if kind.startswith("wsgikit-inline") else 8
        tls = TLSConfig(certfile=cert, keyfile=key) if cert else None
        serve(app, [f"127.0.0.1:{port}"], threads=threads, idle_timeout=idle_timeout, tls=tls)
    elif kind == "waitress":
        import waitress

        waitress.serve(app, host="127.0.0.1", port=port, threads=8, _quiet=True)
    elif kind == "cheroot":
        from cheroot import wsgi

        server = wsgi.Server(("127.0.0.1", port), app, numthreads=8)
        try:
            server.start()
        finally:
            server.stop()
    elif kind == "gunicorn-gthread":
        os.execvp(
            sys.executable,
            [
                sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "8", "-w", "1",
                "-b", f"127.0.0.1:{port}", "--log-level", "warning", f"benchmarks.apps:{app_name}",
                *(["--certfile", cert, "--keyfile", key] if cert else []),
            ],
        )  # fmt: skip
    else:
        raise SystemExit(f"unknown server {kind}")


def _workers_command(kind: str, app_name: str, port: int) -> list[str]:
    """``python -m ...`` arguments of a ``NAME-wN`` server: N workers serving the app."""
    name, _, workers = kind.rpartition("-w")
    spec, host = f"benchmarks.apps:{app_name}", "127.0.0.1"
    if name.startswith("wsgikit"):  # the app runs inline on the loop: no thread hand-off
        reuse = ["--reuse-port"] if name == "wsgikit-reuse-port" else []  # a socket each
        return ["wsgikit", "serve", spec, "--workers", workers, "--threads", "0", *reuse,
                "--bind", f"{host}:{port}", "--log-level", "warning"]  # fmt: skip
    if name == "gunicorn-gthread":
        return ["gunicorn", "-k", "gthread", "--threads", "8", "-w", workers,
                "-b", f"{host}:{port}", "--log-level", "warning", spec]  # fmt: skip
    if name == "granian":
        return ["granian", "--interface", "wsgi", "--workers", workers, "--host", host,
                "--port", str(port), "--log-level", "warning", "--no-access-log", spec]  # fmt: skip
    raise SystemExit(f"unknown server {kind}")


# -- the measuring side --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(
    kind: str, app: str, idle_timeout: float = 30.0, cores: str = SERVER_CORE
) -> Iterator[tuple[int, int]]:
    port = free_port()
    command = ["taskset", "-c", cores, sys.executable, __file__, "serve", kind, app]
    command += [str(port), str(idle_timeout)]
    # Quiet: the servers that print where they serve would break the tables.
    env = {**os.environ}
    if "-compiled" in kind:
        env["PYTHONPATH"] = f"{COMPILED[0]}{os.pathsep}{ROOT}"  # the build, then benchmarks.apps
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{kind} did not start")
            time.sleep(0.1)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wrk(
    port: int,
    path: str,
    duration: int,
    connections: int,
    *,
    cores: str = CLIENT_CORE,
    threads: int = 1,
    scheme: str = "http",
) -> tuple[float, float]:
    """(req/s, p99 latency in ms) from one wrk run of ``threads`` threads pinned to ``cores``."""
    command = [
        "taskset", "-c", cores, "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
        "--latency", "-H", "Accept-Encoding: gzip", f"{scheme}://127.0.0.1:{port}{path}",
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    match = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99 = float(match.group(1)) * scale[match.group(2)] if match else float("nan")
    if "Non-2xx" in out or "Socket errors" in out:
        print(f"    wrk reported errors:\n{out}", file=sys.stderr)
    return rate, p99


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Run(NamedTuple):
    rate: float  # req/s
    p99: float  # ms
    cores: float  # CPU seconds the server's processes used per second of the run


def best_of(
    kinds: list[str],
    app: str,
    rounds: int,
    duration: int,
    connections: int,
    *,
    cores: tuple[str, str],
    wrk_threads: int = 1,
) -> dict[str, Run]:
    """Each server's best run of ``rounds`` wrk runs, the servers taking turns in every round: a
    shared machine's slow spells then hit every server alike, and the best run is the least
    disturbed one (as timeit takes the minimum). ``cores``: (the server's, wrk's)."""
    results: dict[str, Run] = {}
    for _ in range(rounds):
        for kind in kinds:
            with server(kind, app, cores=cores[0]) as (port, pid):
                wrk(port, APPS[app], 1, connections, cores=cores[1], threads=wrk_threads)  # warm-up
                if "-compiled" in kind and not runs_compiled(pid):
                    raise RuntimeError(f"{kind} does not run the compiled build")
                before = tree_cpu(pid)
                rate, p99 = wrk(
                    port, APPS[app], duration, connections, cores=cores[1], threads=wrk_threads
                )
                used = (tree_cpu(pid) - before) / duration
            if kind not in results or rate > results[kind].rate:
                results[kind] = Run(rate, p99, used)
    return results


def runs_compiled(pid: int) -> bool:
    """Every process of the server (manager and workers) has mypyc's library mapped."""
    pids = _tree(pid)
    return all("_native__mypyc" in Path(f"/proc/{p}/maps").read_text() for p in pids)


def _tree(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        with contextlib.suppress(OSError, ValueError):
            fields = Path(f"/proc/{name}/stat").read_text().rpartition(")")[2].split()
            parents[int(name)] = int(fields[1])
    tree, grew = {pid}, True
    while grew:
        below = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= below
        grew = bool(below)
    return tree


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and every process below it."""
    ticks = 0
    for each in _tree(pid):
        with contextlib.suppress(OSError, ValueError):
            fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def throughput_table(duration: int, connections: int, servers: list[str], rounds: int) -> None:
    print(
        f"\n## Throughput (best of {rounds} rounds of wrk -t1 -c{connections} -d{duration}s; "
        "server on core 0, wrk on 1)\n"
    )
    print("| app | server | req/s | p99 ms | vs waitress |\n|---|---|---:|---:|---:|")
    for app in APPS:
        results = best_of(
            servers, app, rounds, duration, connections, cores=(SERVER_CORE, CLIENT_CORE)
        )
        base = results["waitress"].rate if "waitress" in results else float("nan")
        for kind, run in results.items():
            print(f"| {app} | {kind} | {run.rate:,.0f} | {run.p99:.2f} | {run.rate / base:.2f}x |")


def multicore_table(duration: int, connections: int, rounds: int, cores: str) -> None:
    """The multi-core row: goal wsgikit-w2 >= 1.8x wsgikit-w1 and ahead of both peers.

    wrk runs one thread per server core: one thread, sharing the cores with N busy workers, gets
    a 1/(N+1) share of the CPU and becomes the limit (measured: 2 workers 38k req/s with wrk -t1,
    56-63k with -t2; 1 worker 27-39k either way). When wrk shares the servers' two cores it
    takes its share of them: a server that scales perfectly still cannot double the one-worker
    figure, whose wrk had the second core to itself. "cores used" (the server's processes' CPU
    time over the run's) and "req per CPU-s" tell scaling apart from a machine whose other jobs
    took the cores.
    """
    server_cores, _, wrk_cores = cores.partition("/")
    threads = len(server_cores.split(","))
    print(
        f"\n## Multi-core (hello, best of {rounds} rounds of wrk -t{threads} -c{connections} "
        f"-d{duration}s; servers on cores {server_cores}, wrk on {wrk_cores or server_cores})\n"
    )
    print("| server | req/s | p99 ms | vs wsgikit-w1 | cores used | req per CPU-s |")
    print("|---|---:|---:|---:|---:|---:|")
    pinned = (server_cores, wrk_cores or server_cores)
    results = best_of(
        available(MULTICORE),
        "hello",
        rounds,
        duration,
        connections,
        cores=pinned,
        wrk_threads=threads,
    )
    base = results["wsgikit-w1"].rate
    for kind, run in results.items():
        print(
            f"| {kind} | {run.rate:,.0f} | {run.p99:.2f} | {run.rate / base:.2f}x "
            f"| {run.cores:.2f} | {run.rate / run.cores:,.0f} |"
        )
    peers = max(run.rate for kind, run in results.items() if not kind.startswith("wsgikit"))
    for build in ("", "-compiled"):
        if f"wsgikit{build}-w2" in results:
            two, one = results[f"wsgikit{build}-w2"].rate, results[f"wsgikit{build}-w1"].rate
            print(
                f"\nwsgikit{build}-w2: {two / one:.2f}x wsgikit{build}-w1 (goal >= 1.8x), "
                f"{two / peers:.2f}x the best peer (goal > 1.0x)"
            )


def tls_table(duration: int, connections: int, rounds: int) -> None:
    """Keep-alive hello over https: wsgikit (threads, inline) against gunicorn gthread, the
    same self-signed P-256 certificate, best of ``rounds`` as in the throughput table."""
    print(
        f"\n## TLS (hello over https, best of {rounds} rounds of wrk -t1 -c{connections} "
        f"-d{duration}s; server on core 0, wrk on 1)\n"
    )
    print("| server | req/s | p99 ms | vs gunicorn |\n|---|---:|---:|---:|")
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{directory}/key.pem",
                "-out", f"{directory}/cert.pem", "-subj", "/CN=localhost", "-days", "1",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        os.environ[TLS_DIR] = directory
        for _ in range(rounds):
            for kind in TLS_SERVERS:
                with server(kind, "hello") as (port, _):
                    wrk(port, "/", 1, connections, scheme="https")  # warm-up
                    rate, p99 = wrk(port, "/", duration, connections, scheme="https")
                if rate > results.get(kind, (0.0, 0.0))[0]:
                    results[kind] = (rate, p99)
    base = results.get("gunicorn-gthread-tls", (float("nan"), 0.0))[0]
    for kind, (rate, p99) in results.items():
        print(f"| {kind} | {rate:,.0f} | {p99:.2f} | {rate / base:.2f}x |")


def hold_idle(port: int, count: int) -> list[socket.socket]:
    """Open ``count`` keep-alive connections, one request each, and keep them open, idle."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks: list[socket.socket] = []
    selector = selectors.DefaultSelector()
    request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(request)
        socks.append(sock)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        if len(socks) % 500 == 0:  # read answers as we go: bounded backlog on both sides
            _drain(selector)
    while selector.get_map():
        _drain(selector)
    selector.close()
    return socks


def _drain(selector: selectors.BaseSelector) -> None:
    for key, _ in selector.select(timeout=5):
        sock: socket.socket = key.fileobj  # type: ignore[assignment]
        if sock.recv(65536):
            selector.unregister(sock)


def c10k(duration: int, idle: int) -> None:
    print(f"\n## C10K: {idle:,} idle keep-alive connections, 50 active (wsgikit-threads, hello)\n")
    with server("wsgikit-threads", "hello", idle_timeout=600) as (port, pid):
        wrk(port, "/", 1, 50)
        alone, _ = wrk(port, "/", duration, 50)
        before = rss_mb(pid)
        os.sched_setaffinity(0, {int(CLIENT_CORE)})
        socks = hold_idle(port, idle)
        loaded, _ = wrk(port, "/", duration, 50)
        held = rss_mb(pid)
        for sock in socks:
            sock.close()
    print("| measure | value |\n|---|---:|")
    print(f"| req/s, 50 active, no idle | {alone:,.0f} |")
    print(f"| req/s, 50 active, {idle:,} idle | {loaded:,.0f} |")
    print(f"| throughput kept | {loaded / alone:.0%} (goal ≥ 80%) |")
    print(f"| server RSS before / with idle | {before:.1f} MB / {held:.1f} MB (goal ≤ 150 MB) |")


def bigbody() -> None:
    print("\n## 1 GiB upload and download (wsgikit-threads): server peak RSS growth\n")
    with server("wsgikit-threads", "big") as (port, pid):
        time.sleep(0.5)
        base = rss_mb(pid)
        size = 1 << 30
        block = b"y" * (1 << 20)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
            for _ in range(size // len(block)):
                sock.sendall(block)
            answer = sock.recv(65536)
        assert answer.endswith(str(size).encode()), answer
        got = 0
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            while data := sock.recv(1 << 20):
                got += len(data)
        peak = rss_mb(pid, "VmHWM")
    print("| measure | value |\n|---|---:|")
    print(f"| bytes downloaded (with chunk framing) | {got:,} |")
    print(f"| RSS at start / peak | {base:.1f} MB / {peak:.1f} MB |")
    print(f"| growth | {peak - base:.1f} MB (goal ≤ 50 MB) |")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "serve":
        run_server(args[1], args[2], int(args[3]), float(args[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=5, help="seconds of one wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="throughput: best of this many runs")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-tls", action="store_true")
    parser.add_argument("--skip-multicore", action="store_true")
    parser.add_argument(
        "--multicore-cores", default=BOTH_CORES, help="SERVER[/WRK] cores of the multi-core row"
    )
    parser.add_argument("--skip-c10k", action="store_true")
    parser.add_argument("--skip-bigbody", action="store_true")
    parser.add_argument(
        "--no-compiled",
        dest="compiled",
        action="store_false",
        help="leave out the '-compiled' rows (the mypyc build, made in a temporary directory)",
    )
    opts = parser.parse_args(args)
    print(f"# benchmarks/http_server.py — Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    with compiled_tree() if opts.compiled else contextlib.nullcontext() as tree:
        print(
            f"# wsgikit: {describe(None)}; '-compiled' rows: {describe(tree) if tree else 'none'}"
        )
        if tree is not None:
            COMPILED.append(tree)
        _run_tables(opts)


def _run_tables(opts: argparse.Namespace) -> None:
    if not opts.skip_throughput:
        throughput_table(
            opts.duration, opts.connections, available(opts.servers.split(",")), opts.rounds
        )
    if not opts.skip_tls:
        tls_table(opts.duration, opts.connections, opts.rounds)
    if not opts.skip_multicore:
        multicore_table(opts.duration, opts.connections, opts.rounds, opts.multicore_cores)
    if not opts.skip_c10k:
        c10k(opts.duration, opts.idle)
    if not opts.skip_bigbody:
        bigbody()


if __name__ == "__main__":
    main()
