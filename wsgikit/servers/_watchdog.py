"""The watchdog: requests stuck in the app (``--request-timeout``) and a worker's heartbeat.

:func:`attach` wraps the server's app so that each stretch of time the app holds a thread is
known: the call ``app(environ, start_response)``, each ``next()`` on its iterable and its
``close()``. Only that time counts: a slow client (a body still arriving, a response not read)
costs the app no time, since the loop reads bodies before the app runs and the engine sends
between ``next()`` calls; with ``buffer_bodies=False`` a ``wsgi.input`` read that waits for the
client starts the clock anew. A long streaming response whose iterable yields now and then is
not stuck: each ``next()`` is its own stretch.

The loop's sweep (once a second) calls :meth:`Watchdog.check`: a stretch longer than
``timeout`` is logged once per request at WARNING with its request line and the stack of the
thread running it (``sys._current_frames()``); no thread per request (inline, where the app
holds the loop and so its sweep, one thread per server looks instead). In a worker process the
monitor thread asks :meth:`Watchdog.alive` before each heartbeat: a loop that has not swept for
:data:`LOOP_STALL` seconds (inline: the app holds the loop) or every pool thread stuck makes it
send what the app is doing instead (:func:`heartbeat`), and the manager replaces a worker that
stays silent for ``--worker-timeout`` (:mod:`wsgikit.servers.workers`)::

    watchdog = attach(server, 30.0)   # server.app is wrapped; server.watchdog is set
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from wsgikit._environ import FileWrapper
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

if TYPE_CHECKING:
    from wsgikit.servers._loop import EventServer

__all__ = ["LOOP_STALL", "Watchdog", "attach", "describe_stuck", "heartbeat"]

error_log = logging.getLogger("wsgikit.error")

LOOP_STALL = 2.5  # seconds without a sweep: the loop is held (it sweeps once a second)
STACK_CHARS = 3000  # of a stack sent to the manager: one pipe message stays atomic (PIPE_BUF)


class _Request:
    """One request the app is serving; ``since`` is 0 while the app does not hold a thread."""

    __slots__ = ("environ", "logged", "reported", "since", "thread")

    def __init__(self, environ: WSGIEnvironment) -> None:
        self.environ = environ
        self.since = 0.0
        self.thread = 0
        self.logged = False  # the WARNING went out (once per request)
        self.reported = False  # sent to the manager (once per request)

    def line(self) -> str:
        """``GET /path?query from 10.0.0.1`` (the request line as the access log has it)."""
        env = self.environ
        uri = env.get("REQUEST_URI") or env.get("SCRIPT_NAME", "") + env.get("PATH_INFO", "")
        if not env.get("REQUEST_URI") and env.get("QUERY_STRING"):
            uri += "?" + env["QUERY_STRING"]
        return f"{env.get('REQUEST_METHOD', '-')} {uri} from {env.get('REMOTE_ADDR', '-')}"


class Watchdog:
    """What the app holds now, by thread. ``timeout`` 0: track only (a worker's heartbeat)."""

    def __init__(self, timeout: float, *, threads: int, stream_input: bool = False) -> None:
        if timeout < 0:
            raise ValueError(f"request_timeout must be 0 (off) or more, got {timeout}")
        self.timeout = timeout
        self.threads = threads
        self.stream_input = stream_input  # buffer_bodies=False: wsgi.input waits for clients
        self.running: dict[int, _Request] = {}  # thread id -> its request, while in the app
        self.swept = time.monotonic()  # the loop's last sweep
        self._lock = threading.Lock()

    # -- the app's side (pool threads, or the loop inline) ---------------------------------------

    def enter(self, request: _Request) -> None:
        request.thread = threading.get_ident()
        request.since = time.monotonic()
        self.running[request.thread] = request

    def leave(self, request: _Request) -> None:
        request.since = 0.0
        self.running.pop(request.thread, None)

    def wrap(self, app: WSGIApplication) -> WSGIApplication:
        def watched(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            request = _Request(environ)
            if self.stream_input:
                environ["wsgi.input"] = _Input(environ["wsgi.input"], self, request)
            self.enter(request)
            try:
                result = app(environ, start_response)
            finally:
                self.leave(request)
            if type(result) in (list, tuple, FileWrapper):
                return result  # nothing more runs app code (a list's length is the engine's)
            return _Iterable(result, self, request)

        return watched

    # -- the loop's side ------------------------------------------------------------------------

    def stuck(self, now: float, after: float) -> list[_Request]:
        """Requests whose current stretch in the app is longer than ``after`` seconds."""
        return [r for r in self.running.copy().values() if r.since and now - r.since > after]

    def check(self, now: float, *, swept: bool = True) -> None:
        """Log each request stuck past ``timeout`` once, with its thread's stack."""
        if swept:
            self.swept = now
        if not self.timeout:
            return
        for request in self.stuck(now, self.timeout):
            with self._lock:  # the sweep and a monitor thread may look at once: log once
                if request.logged:
                    continue
                request.logged = True
                error_log.warning(
                    "request running for %.1fs (--request-timeout %gs): %s\n%s",
                    now - request.since,
                    self.timeout,
                    request.line(),
                    stack_of(request.thread),
                )

    def alive(self, now: float, after: float) -> bool:
        """The loop sweeps, and some pool thread is not stuck past ``after`` seconds."""
        if now - self.swept > LOOP_STALL:
            return False
        return not (self.threads and len(self.stuck(now, after)) >= self.threads)


class _Iterable:
    """The app's iterable, each ``next()`` and ``close()`` timed as a stretch in the app."""

    def __init__(self, result: Iterable[bytes], watchdog: Watchdog, request: _Request) -> None:
        self.result = result
        self.watchdog = watchdog
        self.request = request
        self.iterator: Iterator[bytes] | None = None

    def __iter__(self) -> _Iterable:
        return self

    def __next__(self) -> bytes:
        self.watchdog.enter(self.request)
        try:
            if self.iterator is None:
                self.iterator = iter(self.result)
            return next(self.iterator)
        finally:
            self.watchdog.leave(self.request)

    def close(self) -> None:
        close = getattr(self.result, "close", None)
        if close is not None:
            self.watchdog.enter(self.request)
            try:
                close()
            finally:
                self.watchdog.leave(self.request)


class _Input:
    """``wsgi.input`` streamed from the client (``buffer_bodies=False``): waiting for the client
    is not the app's time, so each read ends the stretch and starts a new one."""

    def __init__(self, stream: Any, watchdog: Watchdog, request: _Request) -> None:
        self._stream = stream
        self._watchdog = watchdog
        self._request = request

    def _wait(self, call: Callable[..., Any], *args: Any) -> Any:
        self._watchdog.leave(self._request)
        try:
            return call(*args)
        finally:
            self._watchdog.enter(self._request)

    def read(self, *args: Any) -> bytes:
        return self._wait(self._stream.read, *args)  # type: ignore[no-any-return]

    def readline(self, *args: Any) -> bytes:
        return self._wait(self._stream.readline, *args)  # type: ignore[no-any-return]

    def readlines(self, *args: Any) -> list[bytes]:
        return self._wait(self._stream.readlines, *args)  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def stack_of(thread: int) -> str:
    frame = sys._current_frames().get(thread)
    if frame is None:
        return "  (the thread has left)"
    return "".join(traceback.format_stack(frame)).rstrip()


def attach(server: EventServer, timeout: float) -> Watchdog:
    """Watch ``server``'s app (before ``run()``); the loop's sweep calls ``check``."""
    watchdog = Watchdog(timeout, threads=server.threads, stream_input=not server.buffer_bodies)
    server.app = watchdog.wrap(server.app)
    server.watchdog = watchdog
    if timeout and not server.threads:  # inline, the app holds the loop: the sweep cannot look
        args = (_ref(server), watchdog)
        threading.Thread(target=_look, args=args, name="wsgikit-watchdog", daemon=True).start()
    return watchdog


def _ref(server: EventServer) -> Callable[[], EventServer | None]:
    """A weak reference, so that a server never run can go; a strong one for a server compiled
    with mypyc (wsgikit._compiled), whose class takes no weak references: the thread then ends
    when the server stops."""
    try:
        return weakref.ref(server)
    except TypeError:
        return lambda: server


def _look(server: Callable[[], EventServer | None], watchdog: Watchdog) -> None:
    """Inline: one thread per server looks once a second, until the server stops."""
    while True:
        time.sleep(1.0)
        alive = server()
        if alive is None or alive.stopping:
            return
        del alive
        watchdog.check(time.monotonic(), swept=False)


def heartbeat(
    server: EventServer, worker_timeout: float, send: Callable[[str], None]
) -> Callable[[], None]:
    """In a worker, before ``run()``: the monitor's once-a-second beat. While the loop is held,
    or every pool thread is stuck past the request timeout (else ``worker_timeout``), no
    ``beat``: each request in the app is logged (the loop cannot) and sent once as ``stuck
    {"request": ..., "for": seconds, "stack": ...}``."""
    watchdog = server.watchdog or attach(server, 0.0)
    after = watchdog.timeout or worker_timeout or float("inf")

    def beat() -> None:
        now = time.monotonic()
        if watchdog.alive(now, after):
            send("beat")
            return
        watchdog.check(now, swept=False)
        for request in watchdog.stuck(now, 0.0):  # what holds the loop or the threads
            if not request.reported:
                request.reported = True
                stack = stack_of(request.thread)[-STACK_CHARS:]
                text = {"request": request.line()[:500], "for": round(now - request.since, 1)}
                send("stuck " + json.dumps({**text, "stack": stack}))

    return beat


def describe_stuck(reports: list[str]) -> str:
    """The manager's account of a silent worker, from its ``stuck`` messages."""
    lines = []
    for report in reports:
        try:
            fields = json.loads(report)
            lines.append(f"{fields['request']} for {fields['for']}s\n{fields['stack']}")
        except (ValueError, KeyError, TypeError):
            lines.append(report)
    return "\n".join(lines) if lines else "no request in the app reported"
