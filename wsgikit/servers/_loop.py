"""The event loop every wsgikit server runs: a poller, accept, timers, thread pool, graceful drain.

A protocol (HTTP, FastCGI, SCGI) subclasses ``Connection`` (:mod:`wsgikit.servers._connection`):
``on_data`` parses what the loop read and says whether a request is ready, ``process`` serves
ready requests (on a pool thread, or on the loop when ``threads=0``) and ends by handing the
connection back (:meth:`EventServer.release`) or closing it. While a pool thread owns a connection
it is disarmed (ONESHOT, :mod:`wsgikit.servers._poller`): nobody else reads it, and the thread
re-arms it (with epoll and kqueue, without waking the loop)::

    class MyServer(EventServer):
        connection_class = MyConnection
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from wsgikit._compiled import mypyc_attr
from wsgikit._forwarded import LOCAL_PROXIES, TrustedProxies
from wsgikit.gateway import ConnectionInfo
from wsgikit.servers._accept_pause import OUT_OF_FDS, AcceptPause
from wsgikit.servers._accept_share import AcceptShare
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
    WantWrite,
)
from wsgikit.servers._listen import describe, open_listener, parse_spec
from wsgikit.servers._poller import Poller, poller_class, raise_fd_limit
from wsgikit.servers._signals import CtrlC, ForceStop, run_until_signal, take_signals
from wsgikit.servers._watchdog import Watchdog, attach
from wsgikit.types import WSGIApplication

__all__ = ["EventServer", "run_until_signal"]

error_log = logging.getLogger("wsgikit.error")

_RETIRE_GRACE = 2.0  # seconds a retiring worker keeps an idle keep-alive connection
_AF_UNIX = getattr(socket, "AF_UNIX", -1)  # Windows' socket module may lack it


@mypyc_attr(allow_interpreted_subclasses=True)  # FastCGI, SCGI, AJP, tests
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
    poller: Poller  # made by run(): after a fork, each process has its own
    scheme: ClassVar[str] = "http"  # for log lines: what the listeners speak
    accept_share: AcceptShare | None = None  # workers: each takes its share (_accept_share.py)

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
        proxies: TrustedProxies | None = LOCAL_PROXIES,
        write_buffer: int = 1 << 20,
        buffer_bodies: bool = True,
        prebuffer: int = 65536,
        body_memory: int = 32 << 20,
        poller: str | None = None,
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
        self.poller_class = poller_class(poller)  # PollerError for a bad name or WSGIKIT_POLLER
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
        self.proxies = proxies  # whose X-Forwarded-* / Forwarded to believe (None: nobody's)
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
        p = self.poller_class
        self._level = p.READ | p.HUP
        # Inline, the loop owns every connection: level-triggered, never disarmed.
        self._mask = self._level | p.ONESHOT if threads else self._level
        # Writing for a slow client. No HUP: a client that half-closes may still read, and a level-
        # triggered RDHUP would wake the loop for nothing until the client takes more.
        self._write_mask = p.WRITE | p.ONESHOT if threads else p.WRITE
        self._queue: queue.SimpleQueue[Connection | None] = queue.SimpleQueue()
        self._pool: list[threading.Thread] = []
        self._batch: list[Connection] = []  # inline: connections with a request, this turn
        self._held: list[Connection] | None = None  # inline, while serving: send_last() holds
        self._in_app = False  # inline, while serving: a second signal raises through the app
        self._pause = AcceptPause()  # out of descriptors: the listeners rest a moment

    def listener_info(self, sock: socket.socket) -> ConnectionInfo:
        """The environ facts of connections accepted on ``sock`` (SERVER_NAME, SERVER_PORT...)."""
        if sock.family == _AF_UNIX:
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

    def scheme_of(self, info: ConnectionInfo) -> str:
        """What a listener speaks, for log lines (``https`` on a TLS port of the HTTP server)."""
        return self.scheme

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
        raise_fd_limit()
        self.poller = poller = self.poller_class()
        for fd in self.listeners:
            poller.add_listener(fd)  # EPOLLEXCLUSIVE: processes sharing it are woken one at a time
        poller.register(poller.wake_fd, poller.READ)
        if self.accept_share is not None:
            self.accept_share.start(self)
        for index in range(self.threads):
            name = f"wsgikit-pool-{index}"
            thread = threading.Thread(target=self._work, name=name, daemon=True)
            thread.start()
            self._pool.append(thread)
        for sock, info in self.listeners.values():
            error_log.info("listening on %s", describe(sock, self.scheme_of(info)))
        restore = take_signals(poller.wake_write_fd)
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
        self._wake()

    def stop_accepting(self) -> None:
        """Accept no more connections; the loop closes its listeners on its next turn without
        taking their backlog, which the other processes sharing them (workers) serve, and each
        answer closes its connection (clients go elsewhere before the drain closes idle ones).
        Safe from any thread and from signal handlers."""
        self.accepting = False
        self._wake()

    def _wake(self) -> None:
        poller: Poller | None = getattr(self, "poller", None)  # None before run()
        if poller is not None:
            poller.wake()

    def close_listeners(self) -> None:
        poller: Poller | None = getattr(self, "poller", None)
        for fd, (sock, _) in self.listeners.items():
            # Before close(): select() and poll() fail on a closed fd, and epoll would keep a
            # socket another process (a worker) still holds.
            if poller is not None:
                poller.remove_listener(fd)
            if sock.family == _AF_UNIX and sock.getsockname() in self._own_paths:
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
        self.poller.close()

    # -- the loop ----------------------------------------------------------------------------------

    def _loop(self) -> None:
        poller = self.poller
        poll = poller.poll
        conns = self.conns
        listeners = self.listeners
        wake = poller.wake_fd
        next_sweep = time.monotonic() + 1.0
        drain_until = 0.0
        batch = self._batch
        share = self.accept_share
        kick = -1 if share is None else share.fd
        while True:
            timeout = 1.0
            if self._pause.resumes:  # wake up in time to try accepting again
                timeout = min(1.0, max(0.0, self._pause.resumes - time.monotonic()))
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
                    poller.drain_wake()
                elif fd == kick and share is not None:
                    share.on_kick()
            if batch:  # inline: read and parse every ready connection first, then serve them
                self._serve_batch(batch)
            if not self.accepting and listeners:
                self.close_listeners()
            now = time.monotonic()
            if self._pause.resumes and now >= self._pause.resumes:
                self._pause.set_accepting(True, self.listeners, self.poller)
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
        share = self.accept_share
        if share is not None:  # workers: beyond its share, this one steps aside
            budget = share.allowance(budget)
        for _ in range(budget):  # many per wake-up, but let other sockets have a turn
            try:
                sock, peer = listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in OUT_OF_FDS:
                    self._pause.refuse(exc.strerror or str(exc), self.listeners, self.poller)
                return
            if len(self.conns) >= self.max_connections:
                sock.close()
                continue
            sock.setblocking(False)
            if sock.family != _AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = self.connection_class(
                self, sock, info.for_peer(peer if isinstance(peer, tuple) else None)
            )
            # A connection that starts reading (a TLS handshake) has the header timeout.
            timeout = self.header_timeout if conn.reading else self.idle_timeout
            conn.deadline = time.monotonic() + timeout
            self.conns[conn.fd] = conn
            self.poller.register(conn.fd, self._mask)
            if share is not None:
                share.count(len(self.conns))

    def _on_readable(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except WantWrite:  # TLS: our handshake flight waits for the client; write_some goes on
            conn.unsent.append(b"")
            self.write_later(conn, READ)
            return
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
        if not self.threads:
            return
        try:
            self.poller.modify(conn.fd, self._mask)
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
            self.poller.modify(conn.fd, self._write_mask)
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
                self.poller.modify(conn.fd, self._level)
            except (OSError, ValueError):
                self.close(conn)
                return
            self._dispatch(conn)
            return
        if not done:  # the client read some: the write timeout counts from its last progress
            conn.deadline = time.monotonic() + self.write_timeout
            if self.threads:
                self.write_later(conn, conn.then)
            return
        if not self.threads:  # back to reading (arm() is a no-op inline)
            try:
                self.poller.modify(conn.fd, self._level)
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
        self._pause.log(now)
        if self.accept_share is not None:
            self.accept_share.tick(now)
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
        # A worker leaving for a successor (stop_accepting() first) keeps its idle keep-alive
        # connections a moment: a client of one is likely sending its next request right now,
        # and closing under it would fail that request; it gets its answer with Connection:
        # close instead. A plain stop (Ctrl-C) closes them at once.
        retiring = not self.accepting
        grace = time.monotonic() + min(self.idle_timeout, _RETIRE_GRACE)
        for sock, info in list(self.listeners.values()):
            self._accept(sock, info, budget=1 << 16)
        self.close_listeners()
        for conn in list(self.conns.values()):
            if conn.state == READ and not conn.reading:
                self._on_readable(conn)  # a request waiting there is served (Connection: close)
                if conn.state == READ and not conn.reading and self.conns.get(conn.fd) is conn:
                    if retiring:
                        conn.deadline = min(conn.deadline, grace)
                    else:
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
        if self.accept_share is not None:
            self.accept_share.count(len(self.conns))
        with contextlib.suppress(OSError, ValueError):
            self.poller.unregister(conn.fd)
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
