"""Worker processes (``--workers``): a real manager subprocess, its forked workers, signals."""

from __future__ import annotations

import contextlib
import grp
import http.client
import os
import pwd
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.helpers import read_all
from tests.servers.manager_helpers import Load, Managed, children_of, free_low_port, until
from wsgikit.config import Config
from wsgikit.servers._manager_settings import hup_unapplied
from wsgikit.servers.workers import BOOT_TRIES


@pytest.fixture
def manage(tmp_path: Path) -> Iterator[type[Managed]]:
    """``manage(spec, *args)`` starts a manager in tmp_path; every one is killed at the end."""
    started: list[Managed] = []

    def start(spec: str, *args: str, **options: object) -> Managed:
        managed = Managed(tmp_path, spec, *args, **options)  # type: ignore[arg-type]
        started.append(managed)
        return managed

    yield start  # type: ignore[misc]
    for managed in started:
        managed.close()


def test_workers_are_child_processes_serving_with_multiprocess_true(manage) -> None:
    srv = manage("wk_info:app", "--workers", "2")
    workers = srv.wait_workers(2)
    pid, multiprocess, _, _ = srv.info()
    assert int(pid) in workers and int(pid) != srv.pid
    assert multiprocess == "True"


def test_one_explicit_worker_is_not_multiprocess(manage) -> None:
    srv = manage("wk_info:app", "--workers", "1")
    (worker,) = srv.wait_workers(1)
    assert srv.info()[:2] == [str(worker), "False"]


def test_a_killed_worker_is_replaced_within_a_second(manage) -> None:
    srv = manage("wk_info:app", "--workers", "2")
    victim, survivor = sorted(srv.wait_workers(2))
    os.kill(victim, signal.SIGKILL)
    until(lambda: victim not in srv.children(), 1.0)
    until(lambda: len(srv.children()) == 2, 1.0)
    assert survivor in srv.children()
    srv.get()


def test_an_app_that_fails_to_import_stops_the_manager_with_one_error(manage) -> None:
    srv = manage("wk_crash:app", "--workers", "3")
    assert srv.finish() == 2
    errors = [line for line in srv.stderr.splitlines() if line.startswith("wsgikit serve")]
    assert len(errors) == 1, srv.stderr
    assert "no database today" in errors[0]


def test_workers_that_die_at_boot_stop_the_manager_after_a_few_tries(manage) -> None:
    srv = manage("wk_die:app", "--workers", "2")
    assert srv.finish() == 1
    errors = [line for line in srv.stderr.splitlines() if line.startswith("wsgikit serve")]
    assert errors == [
        "wsgikit serve: error: 5 workers in a row died before they could serve (exit status 7)"
    ]


def test_without_preload_each_worker_imports_the_app(manage) -> None:
    srv = manage("wk_info:app", "--workers", "1")
    srv.wait_workers(1)
    pid, _, _, imported_by = srv.info()
    assert imported_by == pid


def test_preload_imports_the_app_in_the_manager(manage) -> None:
    srv = manage("wk_info:app", "--workers", "1", "--preload")
    srv.wait_workers(1)
    assert srv.info()[3] == str(srv.pid)


def test_preload_import_error_stops_the_manager_with_the_error(manage) -> None:
    srv = manage("wk_crash:app", "--workers", "2", "--preload")
    assert srv.finish() == 2
    assert srv.stderr.count("no database today") == 1


def test_pid_file_holds_the_manager_pid_and_goes_at_exit(manage, tmp_path: Path) -> None:
    pid_file = tmp_path / "run" / "wsgikit.pid"
    pid_file.parent.mkdir()
    srv = manage("wk_info:app", "--workers", "1", "--pid", str(pid_file))
    srv.wait_workers(1)
    assert pid_file.read_text() == f"{srv.pid}\n"
    srv.signal(signal.SIGTERM)
    assert srv.finish() == 0
    assert list(pid_file.parent.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_workers_drop_to_user_and_group_after_binding_a_privileged_port(manage) -> None:
    port = free_low_port()
    nobody = pwd.getpwnam("nobody").pw_uid
    nogroup = grp.getgrnam("nogroup").gr_gid
    srv = manage(
        "wk_info:app",
        "--workers",
        "1",
        "--user",
        "nobody",
        "--group",
        "nogroup",
        "--preload",  # nobody may not read the test's private folder; the manager (root) may
        bind=("--bind", f"127.0.0.1:{port}"),
    )
    assert srv.port == port
    (worker,) = srv.wait_workers(1)
    assert srv.info()[2] == str(nobody)
    status = Path(f"/proc/{worker}/status").read_text()
    assert f"Gid:\t{nogroup}\t{nogroup}" in status


def test_an_unknown_user_is_one_clear_error_at_start(manage) -> None:
    srv = manage("wk_info:app", "--workers", "2", "--user", "no-such-user-here")
    assert srv.finish() == 2
    assert srv.stderr.strip() == "wsgikit serve: error: --user 'no-such-user-here': no such user"


def test_umask_applies_to_the_workers(manage) -> None:
    srv = manage("wk_info:app", "--workers", "1", "--umask", "027")
    (worker,) = srv.wait_workers(1)
    assert "Umask:\t0027" in Path(f"/proc/{worker}/status").read_text()


def test_reuse_port_gives_each_worker_its_own_socket(manage) -> None:
    srv = manage("wk_info:app", "--workers", "2", "--reuse-port")
    workers = srv.wait_workers(2)
    seen = {int(srv.info()[0]) for _ in range(60)}  # the kernel hashes each new connection
    assert seen == workers


def test_term_drains_in_flight_requests(manage) -> None:
    import threading

    srv = manage("wk_info:app", "--workers", "2", "--timeout-shutdown", "10")
    srv.wait_workers(2)
    answers: list[str] = []
    slow = threading.Thread(target=lambda: answers.append(srv.get("/slow", timeout=10)))
    slow.start()
    time.sleep(0.3)  # the request is in the app
    srv.signal(signal.SIGTERM)
    assert srv.finish() == 0
    slow.join()
    assert len(answers) == 1


def _reloaded(srv: Managed, old: set[int], count: int) -> bool:
    now = srv.children()
    return len(now) == count and not now & old


@pytest.mark.parametrize("threads", ["4", "0"], ids=["threads", "inline"])
def test_hup_twenty_times_under_load_fails_no_request(manage, threads: str) -> None:
    srv = manage("wk_info:app", "--workers", "2", "--threads", threads)
    workers = srv.wait_workers(2)
    with Load(srv.port) as load:
        load.wait_ok(50)
        for _ in range(20):
            srv.signal(signal.SIGHUP)
            until(lambda old=workers: _reloaded(srv, old, 2), 30)  # generous: a busy machine
            workers = srv.children()
            load.wait_ok(20)
    assert load.failures == []
    assert load.ok > 400


def test_hup_rereads_the_config_file(manage, tmp_path: Path) -> None:
    config = tmp_path / "wsgikit.toml"
    config.write_text("[serve]\nworkers = 1\n")
    srv = manage("wk_info:app", "--config", str(config))
    old = srv.wait_workers(1)
    config.write_text("[serve]\nworkers = 3\n")
    srv.signal(signal.SIGHUP)
    until(lambda: _reloaded(srv, old, 3))


def test_hup_warns_that_it_cannot_rebind_and_serves_on(manage, tmp_path: Path) -> None:
    config = tmp_path / "wsgikit.toml"
    config.write_text('[serve]\nbind = ["127.0.0.1:0"]\npid = "one.pid"\nworkers = 1\n')
    srv = manage("wk_info:app", "--config", str(config), bind=())
    old = srv.wait_workers(1)
    config.write_text('[serve]\nbind = ["127.0.0.1:0", "unix:b.sock"]\npid = "two.pid"\n')
    srv.signal(signal.SIGHUP)
    until(lambda: _reloaded(srv, old, 1))
    log = srv._err.read_text()
    assert "HUP cannot change --bind, --pid: that needs a restart; serving on" in log, log
    assert srv.get()  # on the old socket
    assert (tmp_path / "one.pid").read_text().strip() == str(srv.pid)
    assert not (tmp_path / "two.pid").exists() and not (tmp_path / "b.sock").exists()


def test_a_changed_user_or_umask_needs_usr2_which_reads_them_anew() -> None:
    def config(**values: object) -> Config:
        return Config(values, dict.fromkeys(values, "wsgikit.toml"))

    running = config(bind=("127.0.0.1:80",), user="www", umask="022", workers="2")
    assert hup_unapplied(running, config(**{**running, "workers": "4"})) is None
    changed = config(**{**running, "user": "app", "umask": "027"})
    assert hup_unapplied(running, changed) == (
        "manager: HUP cannot change --user, --umask: that needs USR2 (re-exec) or a restart; "
        "serving on as before"
    )


def test_hup_imports_the_app_anew_without_preload(manage, tmp_path: Path) -> None:
    srv = manage("wk_info:app", "--workers", "1")
    srv.wait_workers(1)
    (tmp_path / "wk_info.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'new code']\n"
    )
    srv.signal(signal.SIGHUP)
    until(lambda: srv.get() == "new code")


def test_hup_with_an_app_that_no_longer_imports_keeps_the_old_workers(manage, tmp_path) -> None:
    srv = manage("wk_info:app", "--workers", "6")  # more failing new workers than BOOT_TRIES
    old = srv.wait_workers(6)
    # every worker has loaded the app (each logs where it listens, the manager once): a HUP
    # retires the ones still booting, and their replacements would import the broken code
    until(lambda: srv._err.read_text().count("listening on") == 7)
    time.sleep(0.5)  # and the manager read their "ready"
    (tmp_path / "wk_info.py").write_text("raise RuntimeError('broken deploy')\n")
    srv.signal(signal.SIGHUP)
    time.sleep(2.0)
    assert srv.children() == old
    assert srv.proc.poll() is None
    srv.get()


def test_ttin_adds_and_ttou_removes_a_worker(manage) -> None:
    srv = manage("wk_info:app", "--workers", "2")
    srv.wait_workers(2)
    srv.signal(signal.SIGTTIN)
    srv.wait_workers(3)
    srv.signal(signal.SIGTTOU)
    srv.wait_workers(2)  # one at a time: two signals of a kind pending at once are one (POSIX)
    srv.signal(signal.SIGTTOU)
    srv.wait_workers(1)


def test_quit_stops_at_once_without_waiting_for_requests(manage) -> None:
    import threading

    srv = manage("wk_info:app", "--workers", "1", "--timeout-shutdown", "30")
    srv.wait_workers(1)

    def cut_short() -> None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            srv.get("/slow?20", timeout=30)

    threading.Thread(target=cut_short, daemon=True).start()
    time.sleep(0.3)
    started = time.monotonic()
    srv.signal(signal.SIGQUIT)
    assert srv.finish(timeout=10) == 0
    assert time.monotonic() - started < 10  # not the 20 s the request would take


def test_usr1_reopens_log_files(manage, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    (tmp_path / "wk_logs.py").write_text(
        "import logging\n"
        f"handler = logging.FileHandler({str(log)!r})\n"
        "logging.getLogger('wk').addHandler(handler)\n"
        "logging.getLogger('wk').setLevel(logging.INFO)\n"
        "def app(environ, start_response):\n"
        "    logging.getLogger('wk').info('served %s', environ['PATH_INFO'])\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'ok']\n"
    )
    srv = manage("wk_logs:app", "--workers", "1")
    srv.wait_workers(1)
    log.rename(tmp_path / "app.log.1")  # logrotate
    srv.signal(signal.SIGUSR1)
    until(log.exists)  # the worker opened the path anew
    srv.get("/after")
    until(lambda: "served /after" in log.read_text())


def test_usr2_reexecs_the_manager_under_load_failing_no_request(manage, tmp_path: Path) -> None:
    pid_file = tmp_path / "wsgikit.pid"
    srv = manage("wk_info:app", "--workers", "2", "--pid", str(pid_file))
    old_workers = srv.wait_workers(2)
    new_manager = 0
    try:
        with Load(srv.port) as load:
            load.wait_ok(50)
            srv.signal(signal.SIGUSR2)
            assert srv.finish() == 0  # the old manager left once the new one served
            new_manager = int(pid_file.read_text())
            assert new_manager != srv.pid
            new_workers = children_of(new_manager)
            assert len(new_workers) == 2 and not new_workers & old_workers
            load.wait_ok(50)
        assert load.failures == []
    finally:
        if new_manager:
            os.kill(new_manager, signal.SIGTERM)
            until(lambda: not Path(f"/proc/{new_manager}").exists(), 30)
    assert not pid_file.exists()


@pytest.mark.parametrize("threads", ["4", "0"], ids=["threads", "inline"])
def test_max_requests_recycles_workers_under_load_failing_no_request(manage, threads) -> None:
    srv = manage(
        "wk_info:app",
        "--workers",
        "2",
        "--threads",
        threads,
        "--max-requests",
        "100",
        "--max-requests-jitter",
        "20",
    )
    seen = set(srv.wait_workers(2))
    with Load(srv.port) as load:
        deadline = time.monotonic() + 60
        while len(seen) < 10 and time.monotonic() < deadline:  # 8 replacements at least
            seen |= srv.children()
            time.sleep(0.05)
        load.wait_ok(20)
    assert load.failures == []
    assert len(seen) >= 10
    until(lambda: len(srv.children()) == 2)  # the old ones drained and left


def test_max_worker_age_replaces_a_worker(manage) -> None:
    srv = manage("wk_info:app", "--workers", "1", "--max-worker-age", "1")
    (first,) = srv.wait_workers(1)
    until(lambda: first not in srv.children() and len(srv.children()) == 1, 10)
    srv.get()


def test_max_worker_memory_replaces_a_worker_that_grew(manage) -> None:
    srv = manage("wk_grow:app", "--workers", "1", "--max-worker-memory", "90")
    (first,) = srv.wait_workers(1)
    time.sleep(1.5)  # a few heartbeats under the limit: the worker stays
    assert srv.children() == {first}
    srv.get("/grow")
    until(lambda: first not in srv.children() and len(srv.children()) == 1, 10)
    srv.get()


def test_fcgi_takes_workers_and_max_worker_requests(manage) -> None:
    from tests.servers.fcgi_client import Client, request

    srv = manage("wk_info:app", "--workers", "2", "--max-worker-requests", "3", command="fcgi")
    first = srv.wait_workers(2, answers=False)

    def answer() -> list[bytes]:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            client = Client(sock)
            client.send(request(keep=False))
            return client.response().stdout.partition(b"\r\n\r\n")[2].split()

    assert answer()[1] == b"True"  # wsgi.multiprocess
    # each worker asks to be replaced after 3 requests: a new pid answers soon
    until(lambda: int(answer()[0]) not in first)


def test_scgi_takes_workers(manage) -> None:
    from tests.servers.test_scgi import scgi

    srv = manage("wk_info:app", "--workers", "2", command="scgi")
    workers = srv.wait_workers(2, answers=False)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(scgi("/"))
        answer = read_all(sock)
    pid, multiprocess, *_ = answer.partition(b"\r\n\r\n")[2].split()
    assert int(pid) in workers and multiprocess == b"True"


def test_replacements_that_cannot_load_the_app_never_stop_a_manager_still_serving(
    manage, tmp_path
) -> None:
    # The code on disk broke after the start (a half-done deploy); then a worker dies. Its
    # replacements fail to import, again and again: the surviving worker keeps serving, the
    # manager retries with a growing delay, and once the code is fixed a replacement starts.
    srv = manage("wk_info:app", "--workers", "2")
    first, second = sorted(srv.wait_workers(2))
    until(lambda: srv._err.read_text().count("listening on") == 3)
    time.sleep(0.5)  # and the manager read their "ready"
    source = tmp_path / "wk_info.py"
    good = source.read_text()
    source.write_text("raise RuntimeError('broken deploy')\n")
    os.kill(first, signal.SIGKILL)
    until(lambda: srv._err.read_text().count("broken deploy") >= BOOT_TRIES, timeout=30)
    assert srv.proc.poll() is None  # the manager did not give up
    srv.get()  # served by the worker that stayed
    assert second in srv.children()
    assert "keep serving" in srv._err.read_text()
    source.write_text(good)
    until(lambda: len(srv.children()) == 2 and first not in srv.children(), timeout=40)
    srv.get()
