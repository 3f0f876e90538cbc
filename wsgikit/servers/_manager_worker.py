"""One worker process of the manager (:mod:`wsgikit.servers.workers`), from fork to exit.

The manager forks; the child calls :func:`worker_main`, which drops privileges, builds the server
on the listening sockets the manager bound (``fd://N``), tells the manager ``ready`` and runs the
loop until a signal. The worker speaks to the manager on a pipe, one line per message (short
enough for one atomic ``write``, PIPE_BUF, from any thread):

``ready``               the app is loaded and the listeners are open: the manager may retire the
                        worker this one replaces
``recycle REASON``      max-requests, max-age or max-memory reached: start my successor, then
                        TERM me (I serve on meanwhile)
``beat``                once a second from the monitor thread, while the loop turns and a pool
                        thread is free (:mod:`~wsgikit.servers._watchdog`; the manager reads
                        the silence: ``worker_timeout``)
``stuck JSON``          instead of beats: a request the app holds (request line, stack)
``reload PATH``         ``--reload``: a source file changed (:mod:`~wsgikit.servers._reload`)
``fail STATUS TEXT``    the app could not load: the manager stops with TEXT and exit STATUS

Signals, as the manager sends them: TERM/INT stop accepting at once (the shared listen backlog is
the other workers'), then drain in-flight requests; QUIT stops now; USR1 reopens log files.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from wsgikit.config import ConfigError
from wsgikit.loader import LoadError
from wsgikit.servers._accept_share import AcceptShare, Board
from wsgikit.servers._orphan import follow_manager, manager_gone, orphan_deadline
from wsgikit.servers._reload import start_reloader
from wsgikit.servers._signals import ForceStop
from wsgikit.servers._watchdog import heartbeat
from wsgikit.types import WSGIApplication

if TYPE_CHECKING:
    from wsgikit.servers._loop import EventServer

__all__ = ["Plan", "Wrap", "reopen_log_files", "rss", "worker_main"]

error_log = logging.getLogger("wsgikit.error")

Wrap = Callable[[WSGIApplication], WSGIApplication]
BEAT = 1.0  # seconds between heartbeats (and recycling checks)
# Between "stop accepting" and the drain: a connection accepted a moment ago has its request on
# the way; the drain would close it as idle.
ACCEPT_GRACE = 0.3
_MANAGER_SIGNALS = (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR2)


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What a generation of workers runs; the manager makes a new one on every HUP.

    ``start(binds, wrap)`` runs in the worker: it loads the app (unless preloaded), passes it
    through ``wrap`` and returns the server listening on ``binds``. Recycling limits: 0 is off;
    ``max_memory`` in bytes of RSS, ``max_age`` in seconds.
    """

    start: Callable[[Sequence[str], Wrap], EventServer]
    workers: int = 1
    max_requests: int = 0
    max_requests_jitter: int = 0
    max_memory: int = 0
    max_age: float = 0.0
    shutdown_timeout: float = 30.0
    worker_timeout: float = 0.0  # seconds without a heartbeat: the manager kills it (0: off)
    reload: tuple[str, ...] | None = None  # --reload (with the extra files to watch), or None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be 1 or more, got {self.workers}")
        if self.worker_timeout < 0:
            raise ValueError(f"worker_timeout must be 0 (off) or more, got {self.worker_timeout}")
        for name in ("max_requests", "max_requests_jitter", "max_memory", "max_age"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (off) or more, got {getattr(self, name)}")


class _Pipe:
    """The worker's end of its pipe to the manager."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.recycling = False

    def send(self, line: str) -> None:
        with contextlib.suppress(OSError):  # the manager is gone: the monitor notices
            os.write(self.fd, (line.replace("\n", " ")[:4000] + "\n").encode())  # < PIPE_BUF

    def recycle(self, reason: str) -> None:
        if not self.recycling:
            self.recycling = True
            error_log.info("worker %d: %s reached, asking for a replacement", os.getpid(), reason)
            self.send(f"recycle {reason}")


def worker_main(
    plan: Plan,
    binds: Sequence[str],
    pipe_fd: int,
    ids: tuple[int, int] | None,
    manager: int,
    *,
    share: tuple[Board, int, tuple[int, int]] | None = None,
) -> int:
    """The child's life after fork: returns the exit status (the caller ``os._exit``\\ s it).

    ``manager`` is the manager's pid as it forked (see :mod:`~wsgikit.servers._orphan`);
    ``share``: the accept board, this worker's slot and its kick pipe (read, write).
    """
    for sig in _MANAGER_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    pipe = _Pipe(pipe_fd)
    began = time.time()  # --reload: a file saved from now on is newer than the code we run
    try:
        if ids is not None:
            _drop_privileges(*ids)
        if not follow_manager(manager):
            return 0  # killed as it forked us: serve nothing
        server = plan.start(binds, _counter(plan, pipe))
    except (LoadError, ConfigError) as exc:
        pipe.send(f"fail 2 {exc}")
        return 2
    except Exception as exc:
        error_log.exception("worker %d could not start", os.getpid())
        pipe.send(f"fail 1 {type(exc).__name__}: {exc}")
        return 1
    if share is not None:
        server.accept_share = AcceptShare(*share, pipe.send)
    _take_signals(server, manager)
    beat = heartbeat(server, plan.worker_timeout, pipe.send)
    threading.Thread(target=_monitor, args=(plan, pipe, server, beat, manager), daemon=True).start()
    pipe.send("ready")
    if plan.reload is not None:
        start_reloader(plan.reload, pipe.send, began)
    server.run()
    return 0


def _drop_privileges(uid: int, gid: int) -> None:
    """After the manager bound the sockets (port 80 as root): the app never runs as root."""
    if os.getuid() == 0:
        os.setgroups([gid])
    os.setgid(gid)
    os.setuid(uid)


def _counter(plan: Plan, pipe: _Pipe) -> Wrap:
    """Count requests as the app is called; at the limit, ask for a replacement once."""
    if not plan.max_requests:
        return lambda app: app
    limit = plan.max_requests + random.randint(0, plan.max_requests_jitter)

    def wrap(app: WSGIApplication) -> WSGIApplication:
        count = itertools.count(1)  # next() is atomic under the GIL: pool threads share it

        def counted(environ: dict[str, Any], start_response: Any) -> Any:
            if next(count) == limit:
                pipe.recycle("max-requests")
            return app(environ, start_response)

        return counted

    return wrap


def _take_signals(server: EventServer, manager: int) -> None:
    def graceful(signum: int, frame: FrameType | None) -> None:
        if server.stopping:
            return  # TERM after Ctrl-C's INT (the manager passes it on): still draining
        if manager_gone(manager):  # PR_SET_PDEATHSIG's TERM
            _orphaned(server)
            return
        server.stop_accepting()
        timer = threading.Timer(ACCEPT_GRACE, server.stop)
        timer.daemon = True
        timer.start()

    def now(signum: int, frame: FrameType | None) -> None:
        server.stop(force=True)
        if server._in_app:  # inline: the loop is in the app, on this thread; get out of it
            server._in_app = False
            raise ForceStop

    def reopen(signum: int, frame: FrameType | None) -> None:
        reopen_log_files()

    signal.signal(signal.SIGTERM, graceful)
    signal.signal(signal.SIGINT, graceful)
    signal.signal(signal.SIGQUIT, now)
    signal.signal(signal.SIGUSR1, reopen)


def _monitor(
    plan: Plan, pipe: _Pipe, server: EventServer, beat: Callable[[], None], manager: int
) -> None:
    """Heartbeat, recycling by age and memory, and a manager that died (we then drain)."""
    born = time.monotonic()
    while not server.stopping:
        time.sleep(BEAT)
        beat()
        if manager_gone(manager):
            _orphaned(server)
        elif plan.max_age and time.monotonic() - born >= plan.max_age:
            pipe.recycle("max-worker-age")
        elif plan.max_memory and rss() > plan.max_memory:
            pipe.recycle("max-worker-memory")


def _orphaned(server: EventServer) -> None:
    """The manager died: drain, and exit when the drain's time is up even if an app is stuck
    (the manager's SIGKILL would have done it)."""
    if server.stopping:
        return
    error_log.warning("worker %d: the manager is gone, stopping", os.getpid())
    server.stop_accepting()
    server.stop()
    orphan_deadline(server.shutdown_timeout)


def rss() -> int:
    """This process's resident set size in bytes (Linux /proc; else the peak, from getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource  # noqa: PLC0415 (only where /proc is missing)

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reopen_log_files() -> None:
    """USR1 (logrotate): every logging.FileHandler closes its file and opens the path anew."""
    handlers = [*logging.getLogger().handlers]
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            handlers.extend(logger.handlers)
    for handler in handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream is not None:
                    handler.stream.close()
                handler.stream = handler._open()
            finally:
                handler.release()
