"""Worker processes: a manager binds the sockets once, forks N workers and keeps N serving.

Modelled on gunicorn's arbiter. The manager serves no request: each worker runs the event loop
(:class:`~wsgikit.servers._loop.EventServer`, pool threads or inline) on the listening sockets
the manager bound, which the workers share (or, with ``reuse_port``, one SO_REUSEPORT socket
each). Signal handlers only queue the signal and write a wake byte; one loop handles them:

- TERM/INT: workers stop accepting and drain in-flight requests (``shutdown_timeout``); again: QUIT
- QUIT: stop now
- HUP: make a new :class:`Plan` (the command line re-reads its config file and environment),
  start new workers (without preload they import the app anew), and TERM each old worker once a
  new one says it accepts: the listen backlog they share is never without a reader
- TTIN/TTOU: one worker more/less; USR1: reopen log files (here and in the workers)
- USR2: re-exec the manager (upgrade wsgikit) with the listening sockets, see ``_manager_exec``

A dead worker is replaced on the next turn (a quarter second); a worker that asks to be recycled
(max requests, age, memory) is replaced first and TERMed once its successor accepts. A worker
whose app fails to load stops the manager with that error, once; workers that die before they
accept, again and again, stop it after :data:`BOOT_TRIES`. Once workers serve, replacements that
fail never stop the manager while others still serve: it logs, and tries again after a delay
that grows up to :data:`RETRY_MAX` seconds. Example::

    plan = lambda: Plan(start=lambda binds, wrap: Server(wrap(app), binds), workers=4)
    sys.exit(Manager("serve", plan, ["0.0.0.0:8000"]).run())
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import TYPE_CHECKING

from wsgikit.servers import _systemd
from wsgikit.servers._accept_share import Board
from wsgikit.servers._listen import describe, parse_spec
from wsgikit.servers._manager_exec import Reexec, take_upgrade_fd, tell_ready
from wsgikit.servers._manager_os import (
    bind_all,
    describe_exit,
    kill,
    read_text,
    reuse_port_bind,
    worker_ids,
)
from wsgikit.servers._manager_worker import Plan, reopen_log_files, worker_main
from wsgikit.servers._watchdog import describe_stuck

if TYPE_CHECKING:
    pass

__all__ = ["BOOT_TRIES", "Manager", "Plan"]

error_log = logging.getLogger("wsgikit.error")

BOOT_TRIES = 5  # workers in a row that die before they accept: then the manager gives up
RETRY_MAX = 30.0  # seconds between tries at most, while other workers serve (see _boot_trouble)
TURN = 0.25  # seconds between the manager's checks (a dead worker is replaced within one)
KILL_AFTER = 5.0  # seconds past shutdown_timeout before a draining worker gets SIGKILL
_HANDLED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGCHLD,
)


@dataclass(eq=False)
class _Worker:
    pid: int
    pipe: int  # the read end of its pipe
    plan: Plan
    slot: int = -1  # its slot on the accept board (-1: none)
    kick: int = -1  # the write end of its kick pipe (wakes it to accept: _accept_share.py)
    ready: bool = False
    doomed: bool = False  # to be TERMed once a successor accepts (HUP, recycling)
    retired: float = 0.0  # monotonic time TERM was sent
    buffer: bytes = b""
    beat: float = 0.0  # monotonic time of its last heartbeat (or of "ready")
    stuck: list[str] = field(default_factory=list)  # what it reported since its last beat


class Manager:
    """Binds ``binds`` in the constructor; :meth:`run` returns the process's exit status.

    ``plan()`` is called at start and on every HUP (a ValueError keeps the running plan).
    ``user``/``group`` (names or ids) are what the workers run as; ``umask`` is set at once.
    """

    def __init__(
        self,
        name: str,
        plan: Callable[[], Plan],
        binds: Sequence[str],
        *,
        backlog: int = 2048,
        unix_mode: int | None = None,
        pid_file: str | None = None,
        user: str | None = None,
        group: str | None = None,
        umask: int | None = None,
        reuse_port: bool = False,
        scheme: str = "http",
        plain_http: int = 0,
    ) -> None:
        self.name = name
        self._make_plan = plan
        self.ids = worker_ids(user, group)  # ValueError: one clear line at start
        if umask is not None:
            os.umask(umask)
        self.pid_file = pid_file
        self.reuse_port = reuse_port
        self.backlog = backlog
        self.scheme = scheme
        self.plain_http = plain_http  # the last binds: HTTPS redirects, which speak plain HTTP
        self.plan = plan()
        self.listeners = bind_all(binds, backlog, unix_mode, reuse_port)
        if reuse_port and read_text("/proc/sys/net/ipv4/tcp_migrate_req") == "0":
            error_log.warning(
                "--reuse-port: net.ipv4.tcp_migrate_req is 0, so a worker that leaves (reload, "
                "recycling) resets the connections still queued on its own socket"
            )
        # unix socket files bound here, removed at exit (not systemd's, nor after a USR2)
        self._own_paths = {b.path for b in map(parse_spec, binds) if b.kind == "unix"}
        self.workers: dict[int, _Worker] = {}
        self.stopping = 0.0  # monotonic time the stop began
        self.status = 0
        self.error = ""
        self._signals: list[int] = []
        self._boot_failures = 0
        self._spawn_after = 0.0  # while workers fail to boot beside serving ones: retry then
        self._ever_ready = False
        self._notified = False
        self._reexec: Reexec | None = None
        self._upgrade_fd = take_upgrade_fd()
        # Workers sharing a listening socket take their share of connections (not with
        # --reuse-port: each worker's own socket has a queue nobody else could take over).
        self._board = None if reuse_port else Board()

    @property
    def addresses(self) -> list[object]:
        return [sock.getsockname() for sock in self.listeners]

    def where(self) -> list[str]:
        """Each listener as a URL (``https://0.0.0.0:443``) for the banner and the log."""
        cut = len(self.listeners) - self.plain_http
        return [
            describe(sock, self.scheme if n < cut else "http")
            for n, sock in enumerate(self.listeners)
        ]

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> int:
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _HANDLED}
        for where in self.where():
            error_log.info("listening on %s", where)
        self._write_pid()
        try:
            while not (self.stopping and not self.workers):
                self._turn()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._cleanup()
        if self.error:
            print(f"wsgikit {self.name}: error: {self.error}", file=sys.stderr, flush=True)
        return self.status

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals.append(signum)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"s")

    def _turn(self) -> None:
        for key, _ in self._selector.select(TURN):
            if key.fd == self._wake_r:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            elif self._reexec is not None and key.fd == self._reexec.fd:
                self._on_reexec()
            else:
                self._read(key.data)
        while self._signals:
            self._handle(self._signals.pop(0))
        self._reap()
        if not self.stopping:
            self._kill_silent()
            self._balance()
        self._kill_overdue()

    def _handle(self, signum: int) -> None:
        if signum == signal.SIGCHLD:
            return  # _reap() runs on every turn
        name = signal.Signals(signum).name
        error_log.info("manager: received %s", name)
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stop(graceful=not self.stopping)
        elif signum == signal.SIGQUIT:
            self.stop(graceful=False)
        elif self.stopping:
            return
        elif signum == signal.SIGHUP:
            self.reload()
        elif signum == signal.SIGTTIN:
            self._resize(self.plan.workers + 1)
        elif signum == signal.SIGTTOU:
            self._resize(max(1, self.plan.workers - 1))
        elif signum == signal.SIGUSR1:
            reopen_log_files()
            self._signal_all(signal.SIGUSR1)
        elif signum == signal.SIGUSR2:
            self._start_reexec()

    # -- workers ----------------------------------------------------------------------------------

    def _balance(self) -> None:
        """Keep ``plan.workers`` fresh workers; retire doomed ones as fresh ones accept."""
        fresh = [w for w in self.workers.values() if not w.doomed and not w.retired]
        if time.monotonic() >= self._spawn_after:
            for _ in range(self.plan.workers - len(fresh)):
                self._spawn()
        for extra in fresh[self.plan.workers :]:  # TTOU, an undone reload: the newest go
            self._retire(extra)
        ready = sum(w.ready for w in fresh[: self.plan.workers])
        doomed = [w for w in self.workers.values() if w.doomed and not w.retired]
        # Never fewer accepting than wanted: one doomed worker goes per fresh one that accepts.
        for worker in doomed[: max(0, ready + len(doomed) - self.plan.workers)]:
            self._retire(worker)
        if not self._notified and ready >= self.plan.workers:
            self._notified = True
            _systemd.notify("READY=1", f"STATUS=serving with {ready} workers")
            if self._upgrade_fd >= 0:  # we are a USR2 re-exec: the old manager may go
                tell_ready(self._upgrade_fd)
                self._upgrade_fd = -1

    def _spawn(self) -> None:
        read, write = os.pipe2(os.O_CLOEXEC)
        manager = os.getpid()  # the child cannot know it for sure: we may die as it starts
        share, kick = self._seat()
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                os.close(read)
                self._forget_in_child()
                status = worker_main(
                    self.plan, self._worker_binds(), write, self.ids, manager, share=share
                )
            except BaseException:
                error_log.exception("worker %d failed", os.getpid())
            finally:
                logging.shutdown()
                os._exit(status)
        os.close(write)
        if share is not None:
            os.close(share[2][0])
        os.set_blocking(read, False)
        worker = _Worker(pid, read, self.plan, -1 if share is None else share[1], kick)
        self.workers[pid] = worker
        self._selector.register(read, selectors.EVENT_READ, worker)
        error_log.debug("manager: started worker %d", pid)

    def _forget_in_child(self) -> None:
        """The child keeps only its pipe and the listeners: not the manager's signals or pipes."""
        for sig in _HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        self._selector.close()
        kicks = [w.kick for w in self.workers.values() if w.kick >= 0]
        for fd in (self._wake_r, self._wake_w, *(w.pipe for w in self.workers.values()), *kicks):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._reexec is not None:
            self._reexec.close()
        if self._upgrade_fd >= 0:
            os.close(self._upgrade_fd)

    def _worker_binds(self) -> list[str]:
        """In the child: the listeners as fd:// binds (reuse_port: TCP ones bound anew)."""
        return [reuse_port_bind(sock, self.backlog, self.reuse_port) for sock in self.listeners]

    def _read(self, worker: _Worker) -> None:
        try:
            data = os.read(worker.pipe, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._selector.unregister(worker.pipe)
            return
        worker.buffer += data
        *lines, worker.buffer = worker.buffer.split(b"\n")
        for line in lines:
            self._message(worker, line.decode("utf-8", "replace"))

    def _message(self, worker: _Worker, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind in ("ready", "beat"):  # not any message: "stuck" is what a silent one sends
            worker.beat = time.monotonic()
            worker.stuck.clear()
        elif kind == "stuck":
            worker.stuck = [*worker.stuck[-9:], rest]
        if kind == "ready":
            worker.ready = True
            self._ever_ready = True
            self._boot_failures = 0
            self._spawn_after = 0.0
        elif kind == "kick":  # it stepped aside: the others try to accept what is queued
            self._kick(worker)
        elif kind == "recycle" and not worker.retired:
            worker.doomed = True
        elif kind == "reload" and worker.plan is self.plan and not self.stopping:
            error_log.info("manager: %s changed, reloading (--reload)", rest)
            self.reload()  # a reload already under way made a new plan: this one is stale
        elif kind == "fail":
            status, _, text = rest.partition(" ")
            self._boot_failed(worker, int(status) if status.isdigit() else 1, text)

    def _boot_failed(self, worker: _Worker, status: int, text: str) -> None:
        """A worker could not load the app: at start, the manager stops with the error; after
        a HUP, the old workers keep serving and the error is logged."""
        worker.retired = worker.retired or time.monotonic()  # it exits: never counted again
        if not self._ever_ready:
            if not self.stopping:
                self.error, self.status = text, status
                self.stop(graceful=False)
            return
        error_log.error("manager: a new worker could not start: %s", text)
        if worker.plan is not self.plan:
            return  # a reload already undone: its other workers fail alike
        old = [
            w
            for w in self.workers.values()
            if w.ready and w.doomed and not w.retired and w.plan is not worker.plan
        ]
        if old:  # a reload whose app does not load: undo it, the old workers keep serving
            error_log.error("manager: reload undone, the running workers keep serving")
            self.plan = old[0].plan
            for other in old:
                other.doomed = False
            for other in list(self.workers.values()):
                if other.plan is worker.plan and not other.retired:
                    self._retire(other)
            return
        self._count_boot_failure(f"workers keep failing to start: {text}", status, graceful=True)

    def _count_boot_failure(self, error: str, status: int, *, graceful: bool) -> None:
        """One more worker that could not serve: once workers served and some still do, retry
        later (_boot_trouble); else the manager stops with ``error`` after BOOT_TRIES in a row."""
        if self._ever_ready and self._boot_trouble():
            return
        self._boot_failures += 1
        if self._boot_failures >= BOOT_TRIES and not self.stopping:
            self.error, self.status = error, status
            self.stop(graceful=graceful)

    def _boot_trouble(self) -> bool:
        """A new worker failed before it could serve while others still serve (the code on
        disk broke after they loaded it, say): never stop them, as gunicorn's arbiter would;
        try again after a delay that grows by half a second a try, up to RETRY_MAX. False:
        nobody serves."""
        serving = sum(w.ready and not w.retired for w in self.workers.values())
        if not serving:
            return False
        self._boot_failures += 1
        delay = min(RETRY_MAX, 0.5 * self._boot_failures)  # a fix is seen soon, logs stay few
        self._spawn_after = time.monotonic() + delay
        error_log.error(
            "manager: %d worker(s) keep serving; starting another in %.0f s", serving, delay
        )
        return True

    def _reap(self) -> None:
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                if self._reexec is not None and pid == self._reexec.pid:
                    self._on_reexec()
                continue
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(worker.pipe)
            while self._drain_pipe(worker):
                pass
            os.close(worker.pipe)
            self._unseat(worker)
            self._exited(worker, wait_status)

    def _drain_pipe(self, worker: _Worker) -> bool:
        try:
            data = os.read(worker.pipe, 4096)
        except OSError:
            return False
        if data:
            worker.buffer += data
            *lines, worker.buffer = worker.buffer.split(b"\n")
            for line in lines:
                self._message(worker, line.decode("utf-8", "replace"))
        return bool(data)

    def _exited(self, worker: _Worker, wait_status: int) -> None:
        how = describe_exit(wait_status)
        if worker.retired or self.stopping:
            error_log.debug("manager: worker %d exited (%s)", worker.pid, how)
            return
        if not worker.ready:
            error_log.error("manager: worker %d died before it could serve (%s)", worker.pid, how)
            error = f"{BOOT_TRIES} workers in a row died before they could serve ({how})"
            self._count_boot_failure(error, 1, graceful=False)
            return
        error_log.error("manager: worker %d died (%s); starting another", worker.pid, how)

    def _retire(self, worker: _Worker) -> None:
        worker.retired = time.monotonic()
        kill(worker.pid, signal.SIGTERM)
        if self._board is not None and worker.slot >= 0:
            self._board.clear(worker.slot)  # it accepts no more: nobody steps aside for it
            self._kick(worker)

    def _seat(self) -> tuple[tuple[Board, int, tuple[int, int]] | None, int]:
        """A new worker's share (the board, its slot, its kick pipe) and the pipe's write end
        the manager keeps; (None, -1) without a board or a free slot."""
        if self._board is None:
            return None, -1
        slot = self._board.take({w.slot for w in self.workers.values()})
        if slot < 0:
            return None, -1
        kick_r, kick_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        return (self._board, slot, (kick_r, kick_w)), kick_w

    def _unseat(self, worker: _Worker) -> None:
        """It exited: its slot is free (a killed worker's count must not count), its pipe shut."""
        if worker.kick >= 0:
            os.close(worker.kick)
            worker.kick = -1
        if self._board is not None and worker.slot >= 0:
            self._board.clear(worker.slot)
            self._kick(worker)

    def _kick(self, sender: _Worker) -> None:
        """Wake every other worker to try accept() (one byte; a full pipe is a pending wake)."""
        for worker in self.workers.values():
            if worker is not sender and worker.kick >= 0 and not worker.retired:
                with contextlib.suppress(OSError):
                    os.write(worker.kick, b"k")

    def _kill_silent(self) -> None:
        """A worker without a heartbeat for ``worker_timeout`` (its loop or every pool thread
        held by the app): log what it reported doing, SIGKILL it; _balance() starts another."""
        now = time.monotonic()
        for worker in self.workers.values():
            limit = worker.plan.worker_timeout
            if limit and worker.ready and not worker.retired and now - worker.beat > limit:
                error_log.error(
                    "manager: worker %d sent no heartbeat for %.1fs (--worker-timeout %gs), "
                    "killing it; it was running: %s",
                    worker.pid,
                    now - worker.beat,
                    limit,
                    describe_stuck(worker.stuck),
                )
                worker.retired = now
                kill(worker.pid, signal.SIGKILL)

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for worker in self.workers.values():
            limit = worker.plan.shutdown_timeout + KILL_AFTER
            if worker.retired and now - worker.retired > limit:
                error_log.error("manager: worker %d did not stop in time, killing it", worker.pid)
                kill(worker.pid, signal.SIGKILL)
            elif self.stopping and now - self.stopping > limit:
                kill(worker.pid, signal.SIGKILL)

    def _signal_all(self, signum: int) -> None:
        for pid in self.workers:
            kill(pid, signum)

    # -- what the signals do ----------------------------------------------------------------------

    def stop(self, *, graceful: bool = True) -> None:
        """Graceful: workers drain (shutdown_timeout); else they stop now (QUIT)."""
        _systemd.notify("STOPPING=1")
        if not self.stopping:
            self.stopping = time.monotonic()
        for worker in self.workers.values():
            worker.retired = worker.retired or time.monotonic()
        self._signal_all(signal.SIGTERM if graceful else signal.SIGQUIT)

    def reload(self) -> None:
        """HUP: a new plan, new workers; the old ones go as the new ones accept."""
        _systemd.notify("RELOADING=1", _systemd.monotonic_usec())
        try:
            plan = self._make_plan()
        except Exception as exc:  # a bad config file, a preloaded app that no longer loads
            error_log.error("manager: reload failed, keeping the running workers: %s", exc)
            _systemd.notify("READY=1")
            return
        self.plan = plan
        self._notified = False  # READY=1 again once the new workers accept
        for worker in self.workers.values():
            if worker.retired:
                continue
            if worker.ready:
                worker.doomed = True
            else:
                self._retire(worker)  # still booting the old code
        error_log.info("manager: reloading, starting %d new workers", plan.workers)

    def _resize(self, count: int) -> None:
        error_log.info("manager: %d workers", count)
        self.plan = replace(self.plan, workers=count)

    def _start_reexec(self) -> None:
        if self._reexec is not None:
            error_log.warning("manager: a re-exec is already under way")
            return
        try:
            self._reexec = Reexec.start(self.listeners, self.pid_file)
        except OSError as exc:
            error_log.error("manager: re-exec failed: %s", exc)
            return
        self._selector.register(self._reexec.fd, selectors.EVENT_READ)

    def _on_reexec(self) -> None:
        """The new manager's workers accept (we drain ours and leave), or it died (we stay)."""
        assert self._reexec is not None
        if self._reexec.poll():
            error_log.info("manager: the new manager %d accepts; stopping", self._reexec.pid)
            _systemd.notify(f"MAINPID={self._reexec.pid}")  # systemd follows the new one
            self._own_paths.clear()  # the new manager serves them now
            self.stop(graceful=True)
            return
        if self._reexec.failed:
            error_log.error("manager: the new manager exited before it served; staying")
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self._reexec.fd)
            self._reexec.close()
            self._reexec = None

    # -- start and end ----------------------------------------------------------------------------

    def _write_pid(self) -> None:
        if self.pid_file:
            tmp = f"{self.pid_file}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="ascii") as out:
                out.write(f"{os.getpid()}\n")
            os.replace(tmp, self.pid_file)  # atomic: a reader never sees a half-written file

    def _cleanup(self) -> None:
        for sock in self.listeners:
            if sock.family == socket.AF_UNIX and sock.getsockname() in self._own_paths:
                with contextlib.suppress(OSError):
                    os.unlink(sock.getsockname())
            sock.close()
        if self.pid_file:
            with contextlib.suppress(OSError):
                with open(self.pid_file, encoding="ascii") as pid:
                    mine = pid.read().strip() == str(os.getpid())
                if mine:  # after USR2 the file is the new manager's
                    os.unlink(self.pid_file)
        if self._board is not None:
            self._board.close()
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
