"""The event loop every wsgikit server runs: epoll, accept, timers, a thread pool, graceful drain.

A protocol (HTTP, FastCGI, SCGI) subclasses ``Connection`` (:mod:`wsgikit.servers._connection`):
``on_data`` parses what the loop read and says whether a request is ready, ``process`` serves
ready requests (on a pool thread, or on the loop when ``threads=0``) and ends by handing the
connection back (:meth:`EventServer.release`) or closing it. While a pool thread owns a connection
it is disarmed (EPOLLONESHOT): nobody else reads it, and the thread re-arms it without waking the
loop::

    class MyServer(EventServer):
        connection_class = MyConnection
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import resource
import select
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from wsgikit.gateway import ConnectionInfo
from wsgikit.servers._body import BodyMemory
from wsgikit.servers._connection import (
    BUSY,
    DISPATCH,
    LINGER,
    READ,
    RECV_SIZE,
    REJECT,
    RESUME,
    WRITE,
    Connection,
)
from wsgikit.servers._listen import describe, open_listener, parse_spec
from wsgikit.servers._signals import CtrlC, ForceStop, run_until_signal, take_signals
from wsgikit.servers._watchdog import Watchdog, attach
from wsgikit.types import WSGIApplication

__all__ = ["EventServer", "run_until_signal"]

error_log = logging.getLogger("wsgikit.error")

_ONESHOT = select.EPOLLIN | select.EPOLLONESHOT | select.EPOLLRDHUP
_LEVEL = select.EPOLLIN | select.EPOLLRDHUP
# Writing for a slow client. No EPOLLRDHUP: a client that half-closes may still read, and a level-
# triggered RDHUP would wake the loop for nothing until the client takes more.
_WRITE_ONESHOT = select.EPOLLOUT | select.EPOLLONESHOT
_WRITE_LEVEL = select.EPOLLOUT
# accept() found no file descriptor (or memory): the client stays in the listen backlog.
_OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPT_PAUSE = 0.1  # seconds the listeners rest then, instead of failing on every turn
_REFUSED_LOG_EVERY = 5.0  # seconds between log lines while it lasts


class EventServer:
    """The loop: binds in the constructor (ports known before ``run()``), runs until ``stop()``.

    ``threads=0`` serves inline on the loop. Timeouts are seconds: ``header_timeout`` for a whole
    request head, ``body_timeout`` and ``write_timeout`` without progress, ``idle_timeout`` between
    requests, ``shutdown_timeout`` for the drain, ``request_timeout`` (0: off) in the app before
    a request is logged as stuck (:mod:`~wsgikit.servers._watchdog`). ``write_buffer``: response
    bytes a slow client may leave for the loop to write before the app has to wait for it.

    Request bodies: with ``buffer_bodies`` (the default, and always inline) the loop reads each
    whole body before the app runs, so a slow upload costs no thread and ``wsgi.input`` never
    waits for the client; bodies stay in memory up to 64 KiB each and ``body_memory`` bytes for
    all connections together, beyond that they go to temporary files. ``buffer_bodies=False``
    streams bodies to the app: a pool thread takes the request once ``prebuffer`` body bytes
    arrived, and reads the rest from the socket as the app asks for it.
    """

    connection_class: ClassVar[type[Connection]] = Connection
    scheme: ClassVar[str] = "http"  # for log lines: what the listeners speak

    def __init__(
        self,
        app: WSGIApplication,
        binds: Sequence[str],
        *,
        threads: int = 8,
        backlog: int = 2048,
        header_timeout: float = 30.0,
        body_timeout: float = 60.0,
        idle_timeout: float = 30.0,
        write_timeout: float = 60.0,
        shutdown_timeout: float = 30.0,
        unix_mode: int | None = None,
        max_connections: int = 100_000,
        multiprocess: bool = False,
        write_buffer: int = 1 << 20,
        buffer_bodies: bool = True,
        prebuffer: int = 65536,
        body_memory: int = 32 << 20,
        request_timeout: float = 0.0,
    ) -> None:
        if threads < 0:
            raise ValueError(f"threads must be 0 (inline) or more, got {threads}")
        for name, value in (
            ("header_timeout", header_timeout),
            ("body_timeout", body_timeout),
            ("idle_timeout", idle_timeout),
            ("write_timeout", write_timeout),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if not binds:
            raise ValueError("at least one bind is needed")
        if type(write_buffer) is not int or write_buffer < 0:
            raise ValueError(f"write_buffer must be an int >= 0, got {write_buffer!r}")
        if type(prebuffer) is not int or prebuffer < 0:
            raise ValueError(f"prebuffer must be an int >= 0, got {prebuffer!r}")
        self.body_memory = BodyMemory(body_memory)  # ValueError for a bad limit
        self.buffer_bodies = buffer_bodies or not threads  # inline: the loop must never wait
        self.prebuffer = prebuffer
        self.app = app
        self.threads = threads
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self.write_buffer = write_buffer  # response bytes a slow client may leave for the loop
        self.shutdown_timeout = shutdown_timeout
        self.max_connections = max_connections
        self.multiprocess = multiprocess
        self.watchdog: Watchdog | None = attach(self, request_timeout) if request_timeout else None
        self.stopping = False
        self._force = False
        self.conns: dict[int, Connection] = {}
        self.listeners: dict[int, tuple[socket.socket, ConnectionInfo]] = {}
        self.accepting = True  # stop_accepting() clears it: answers then close their connection
        self._own_paths: set[str] = set()  # unix sockets bound here (inherited ones are not ours)
        try:
            for spec in binds:
                bind = parse_spec(spec)
                sock = open_listener(bind, backlog=backlog, unix_mode=unix_mode)
                if bind.kind == "unix":
                    self._own_paths.add(bind.path)
                self.listeners[sock.fileno()] = (sock, self.listener_info(sock))
        except BaseException:
            self.close_listeners()
            raise
        self._mask = _ONESHOT if threads else _LEVEL  # inline: the loop owns every connection
        self._write_mask = _WRITE_ONESHOT if threads else _WRITE_LEVEL
        self._wake_w = -1
        self._queue: queue.SimpleQueue[Connection | None] = queue.SimpleQueue()
        self._pool: list[threading.Thread] = []
        self._batch: list[Connection] = []  # inline: connections with a request, this turn
        self._held: list[Connection] | None = None  # inline, while serving: send_last() holds
        self._in_app = False  # inline, while serving: a second signal raises through the app
        self._accept_resumes = 0.0  # out of descriptors: the listeners rest until then
        self._refused = 0  # accepts that found no descriptor since the last log line
        self._refused_why = ""
        self._refused_logged = -_REFUSED_LOG_EVERY  # when that line was written

    def listener_info(self, sock: socket.socket) -> ConnectionInfo:
        """The environ facts of connections accepted on ``sock`` (SERVER_NAME, SERVER_PORT...)."""
        if sock.family == socket.AF_UNIX:
            name, port = "localhost", "80"
        else:
            host, number = sock.getsockname()[:2]
            name = socket.gethostname() if host in ("0.0.0.0", "::") else host
            port = str(number)
        return ConnectionInfo(
            server_name=name,
            server_port=port,
            multithread=self.threads > 0,
            multiprocess=self.multiprocess,
        )

    @property
    def addresses(self) -> list[Any]:
        """The bound addresses (``getsockname()`` of each listener), e.g. to learn port 0's port."""
        return [sock.getsockname() for sock, _ in self.listeners.values()]

    # -- lifecycle ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until :meth:`stop`; then drain in-flight requests (up to shutdown_timeout).

        BaseExceptions: what an app raises, SystemExit and KeyboardInterrupt included, costs
        its request only (the engine answers 500, see :mod:`wsgikit.gateway`), and a pool thread
        survives anything. What leaves the loop on this thread is the process's and ends run()
        once the connections are closed: a signal handler's exception, a ServerExit. On the main
        thread, while it runs, run() has every signal wake the loop and puts a twin in the place
        of Python's own SIGINT handler whose KeyboardInterrupt the engine lets through: Ctrl-C
        stops the server (run() raises KeyboardInterrupt) even while an inline app runs, and a
        KeyboardInterrupt an app raises itself is a 500. A SIGINT/SIGTERM handler of your own
        should call :meth:`stop`: what else it raises into a running app is taken for the app's.
        """
        _raise_fd_limit()
        self._epoll = select.epoll()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        for fd in self.listeners:
            self._epoll.register(fd, select.EPOLLIN)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        for index in range(self.threads):
            name = f"wsgikit-pool-{index}"
            thread = threading.Thread(target=self._work, name=name, daemon=True)
            thread.start()
            self._pool.append(thread)
        for sock, _ in self.listeners.values():
            error_log.info("listening on %s", describe(sock, self.scheme))
        restore = take_signals(self._wake_w)
        try:
            self._loop()
        except ForceStop:
            pass  # a second signal while an inline app ran (run_until_signal logged it)
        except CtrlC as exc:  # the user's KeyboardInterrupt, as Python raises it
            raise KeyboardInterrupt(*exc.args).with_traceback(exc.__traceback__) from None
        finally:
            restore()
            self._shutdown()

    def stop(self, *, force: bool = False) -> None:
        """Stop: finish in-flight requests first (up to shutdown_timeout), or not if ``force``.

        Safe from any thread and from signal handlers.
        """
        self.stopping = True
        self._force = self._force or force
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    def stop_accepting(self) -> None:
        """Accept no more connections; the loop closes its listeners on its next turn without
        taking their backlog, which the other processes sharing them (workers) serve, and each
        answer closes its connection (clients go elsewhere before the drain closes idle ones).
        Safe from any thread and from signal handlers."""
        self.accepting = False
        self._wake()

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    def close_listeners(self) -> None:
        epoll = getattr(self, "_epoll", None)
        for fd, (sock, _) in self.listeners.items():
            if epoll is not None:  # another process may hold the socket: epoll would keep it
                with contextlib.suppress(OSError, ValueError):
                    epoll.unregister(fd)
            if sock.family == socket.AF_UNIX and sock.getsockname() in self._own_paths:
                with contextlib.suppress(OSError):
                    os.unlink(sock.getsockname())
            sock.close()
        self.listeners.clear()

    def _shutdown(self) -> None:
        for _ in self._pool:
            self._queue.put(None)
        for conn in list(self.conns.values()):
            self.close(conn)  # a pool thread still inside the app sees its socket gone
        deadline = time.monotonic() + 1.0
        for thread in self._pool:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.close_listeners()
        self._epoll.close()
        wake_w, self._wake_w = self._wake_w, -1
        os.close(self._wake_r)
        os.close(wake_w)

    # -- the loop ----------------------------------------------------------------------------------

    def _loop(self) -> None:
        poll = self._epoll.poll
        conns = self.conns
        listeners = self.listeners
        wake = self._wake_r
        next_sweep = time.monotonic() + 1.0
        drain_until = 0.0
        batch = self._batch
        while True:
            timeout = 1.0
            if self._accept_resumes:  # wake up in time to try accepting again
                timeout = min(1.0, max(0.0, self._accept_resumes - time.monotonic()))
            for fd, _ in poll(timeout):
                conn = conns.get(fd)
                if conn is not None:
                    if conn.state == READ:
                        self._on_readable(conn)
                    elif conn.state == WRITE:
                        self._on_writable(conn)
                    elif conn.state == LINGER:
                        self._on_linger(conn)
                elif fd in listeners:
                    self._accept(*listeners[fd])
                elif fd == wake:
                    with contextlib.suppress(OSError):
                        os.read(wake, 4096)
            if batch:  # inline: read and parse every ready connection first, then serve them
                self._serve_batch(batch)
            if not self.accepting and listeners:
                self.close_listeners()
            now = time.monotonic()
            if self._accept_resumes and now >= self._accept_resumes:
                self._set_accepting(True)
            if self.stopping:
                if not drain_until:
                    drain_until = now + self.shutdown_timeout
                    self._begin_drain()
                    if batch:  # inline: requests the drain found waiting
                        self._serve_batch(batch)
                if not conns or now >= drain_until or self._force:
                    return
            if now >= next_sweep:
                next_sweep = now + 1.0
                self._sweep(now)
                self.body_memory.trim()  # after a burst of uploads, give the memory back

    def _serve_batch(self, batch: list[Connection]) -> None:
        """Inline: serve the connections with a request, then send the responses they held."""
        held: list[Connection] = []
        self._held = held
        self._in_app = True
        try:
            for conn in batch:
                try:
                    conn.process()
                except Exception:  # a bug of ours must cost one connection, never the server
                    error_log.exception("internal error serving a connection")
                    self.close(conn)
        finally:
            self._in_app = False
            batch.clear()
            self._held = None
            for conn in held:
                try:
                    conn.flush()
                except OSError:
                    self.close(conn)
                    continue
                if conn.unsent and conn.state == READ:  # released before its bytes went out
                    self.write_later(conn, READ)

    def _accept(self, listener: socket.socket, info: ConnectionInfo, budget: int = 64) -> None:
        for _ in range(budget):  # many per wake-up, but let other sockets have a turn
            try:
                sock, peer = listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    self._refuse(exc.strerror or str(exc))
                return
            if len(self.conns) >= self.max_connections:
                sock.close()
                continue
            sock.setblocking(False)
            if sock.family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = self.connection_class(
                self, sock, info.for_peer(peer if isinstance(peer, tuple) else None)
            )
            conn.deadline = time.monotonic() + self.idle_timeout
            self.conns[conn.fd] = conn
            self._epoll.register(conn.fd, self._mask)

    def _refuse(self, why: str) -> None:
        """accept() found no descriptor: the client waits in the backlog, and the listener stays
        readable, so retrying on every turn would spin (and log a line a turn). The listeners
        rest a moment instead; the open connections are served meanwhile at full speed."""
        now = time.monotonic()
        self._refused += 1
        self._refused_why = why
        self._log_refused(now)
        self._accept_resumes = now + _ACCEPT_PAUSE
        self._set_accepting(False)

    def _set_accepting(self, on: bool) -> None:
        """Put the listeners in the poll set (on) or leave them there with no events (off)."""
        if on:
            self._accept_resumes = 0.0
        for fd in self.listeners:
            with contextlib.suppress(OSError, ValueError):
                self._epoll.modify(fd, select.EPOLLIN if on else 0)

    def _log_refused(self, now: float) -> None:
        """One line per _REFUSED_LOG_EVERY with the count (the sweep logs the last ones)."""
        if self._refused and now >= self._refused_logged + _REFUSED_LOG_EVERY:
            error_log.error(
                "cannot accept connections: %s (%d refused since the last such line); "
                "the backlog keeps the clients, retrying every %gs",
                self._refused_why,
                self._refused,
                _ACCEPT_PAUSE,
            )
            self._refused = 0
            self._refused_logged = now

    def _on_readable(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except BlockingIOError:
            self.arm(conn)
            return
        except OSError:
            self.close(conn)
            return
        if not data:
            self.close(conn)
            return
        if not conn.reading:
            # The request timeout covers the whole head, however slowly it trickles in.
            conn.reading = True
            conn.deadline = time.monotonic() + self.header_timeout
        try:
            verdict = conn.on_data(data)
        except Exception:
            error_log.exception("internal error reading a request")
            self.close(conn)
            return
        if verdict == DISPATCH:  # as _dispatch(), without a call on the hot path
            conn.state = BUSY
            if self.threads:
                self._queue.put(conn)
            else:
                self._batch.append(conn)
        elif verdict == REJECT:
            conn.reject()
        else:
            self.arm(conn)

    def _dispatch(self, conn: Connection) -> None:
        """Hand a connection with a request to a pool thread, or to this turn's inline batch."""
        conn.state = BUSY
        if self.threads:
            self._queue.put(conn)
        else:
            self._batch.append(conn)

    def arm(self, conn: Connection) -> None:
        """Let the loop read the connection again (a no-op inline: it never stopped)."""
        if self._mask is _LEVEL:
            return
        try:
            self._epoll.modify(conn.fd, self._mask)
        except (OSError, ValueError):
            self.close(conn)

    def release(self, conn: Connection) -> None:
        """Give a kept-alive connection back to the loop (from a pool thread or the loop itself)."""
        if self.stopping:  # draining: a finished exchange is the moment to close
            self.linger(conn)
            return
        if conn.unsent:
            self.write_later(conn, READ)
            return
        conn.reading = conn.has_partial_request()
        conn.deadline = time.monotonic() + (
            self.header_timeout if conn.reading else self.idle_timeout
        )
        conn.state = READ
        self.arm(conn)

    def write_later(self, conn: Connection, then: int) -> None:
        """The client has not taken the whole response: the loop writes the rest as it reads,
        then the connection goes on to ``then`` (READ: keep-alive; LINGER: close; RESUME: the
        inline app's paused response goes on once half of ``write_buffer`` is free)."""
        conn.state = WRITE
        conn.then = then
        conn.deadline = time.monotonic() + self.write_timeout
        try:
            self._epoll.modify(conn.fd, self._write_mask)
        except (OSError, ValueError):
            self.close(conn)

    def _on_writable(self, conn: Connection) -> None:
        try:
            done = conn.write_some() if conn.unsent else True
        except OSError:
            self.close(conn)
            return
        if conn.then == RESUME:
            if conn.unsent_size > self.write_buffer // 2:
                conn.deadline = time.monotonic() + self.write_timeout
                return
            try:  # read nothing more while the paused response is served (inline: level mask)
                self._epoll.modify(conn.fd, _LEVEL)
            except (OSError, ValueError):
                self.close(conn)
                return
            self._dispatch(conn)
            return
        if not done:  # the client read some: the write timeout counts from its last progress
            conn.deadline = time.monotonic() + self.write_timeout
            if self._mask is _ONESHOT:
                self.write_later(conn, conn.then)
            return
        if self._mask is _LEVEL:  # back to reading (arm() is a no-op inline)
            try:
                self._epoll.modify(conn.fd, _LEVEL)
            except (OSError, ValueError):
                self.close(conn)
                return
        if conn.then == LINGER:
            self.linger(conn)
        elif conn.ready() and not self.stopping:
            self._dispatch(conn)  # requests that waited while their answers could not go out
        else:
            self.release(conn)

    def _sweep(self, now: float) -> None:
        self._log_refused(now)
        if self.watchdog is not None:
            self.watchdog.check(now)
        for conn in list(self.conns.values()):
            if conn.state == BUSY or now < conn.deadline:
                continue
            if conn.state == READ and conn.reading:
                conn.on_timeout()
            else:
                self.close(conn)

    def _begin_drain(self) -> None:
        """Stop accepting, but serve what has already arrived: accept the whole listen backlog,
        read every idle connection once, and close only those that had nothing to read.

        Inline, the loop may have been in the app for a while: clients sent requests that only
        the kernel has seen, and resetting them now (a 502 behind nginx) would undo the point of
        a graceful stop. The listeners close at once: a client that connects now is refused
        (a proxy tries another upstream) rather than queued to be reset at the end.
        """
        for sock, info in list(self.listeners.values()):
            self._accept(sock, info, budget=1 << 16)
        self.close_listeners()
        for conn in list(self.conns.values()):
            if conn.state == READ and not conn.reading:
                self._on_readable(conn)  # a request waiting there is served (Connection: close)
                if conn.state == READ and not conn.reading and self.conns.get(conn.fd) is conn:
                    self.close(conn)

    # -- closing ---------------------------------------------------------------------------------

    def linger(self, conn: Connection) -> None:
        """Half-close and discard input for a moment, so the client reads the answer, not a RST."""
        try:
            conn.flush()
            if conn.unsent:
                self.write_later(conn, LINGER)
                return
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close(conn)
            return
        conn.state = LINGER
        conn.deadline = time.monotonic() + 2.0
        self.arm(conn)

    def _on_linger(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except BlockingIOError:
            self.arm(conn)
            return
        except OSError:
            data = b""
        if data:
            self.arm(conn)
        else:
            self.close(conn)

    def close(self, conn: Connection) -> None:
        if self.conns.pop(conn.fd, None) is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(conn.fd)
        conn.later = None  # closing is for errors: held bytes (a cut response) are dropped
        conn.sock.close()
        conn.discard()

    def _work(self) -> None:
        get = self._queue.get
        while (conn := get()) is not None:
            try:
                conn.process()
            except BaseException:
                # A pool thread must never die. No signal handler runs here, so whatever got
                # this far (a ServerExit an app raised itself, a bug of ours) is this
                # connection's alone.
                error_log.exception("internal error serving a connection")
                self.close(conn)


def _raise_fd_limit() -> None:
    """Lift the soft limit on open files to the hard one: each client is a file descriptor."""
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
