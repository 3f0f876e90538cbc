"""Signals for the event loop: SIGINT/SIGTERM stop a server gracefully, a second one stops it now.

:func:`run_until_signal` is what ``wsgikit serve`` (and ``fcgi``, ``scgi``) run the server with;
:meth:`EventServer.run <wsgikit.servers._loop.EventServer.run>` calls :func:`take_signals` on
the main thread whatever runs it. Both raise private :class:`~wsgikit.gateway.ServerExit`
subclasses through an inline app, which the engine lets through and the loop acts on::

    run_until_signal(Server(app, ["127.0.0.1:8000"], threads=0))
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from wsgikit.gateway import ServerExit

if TYPE_CHECKING:
    from wsgikit.servers._loop import EventServer

__all__ = ["CtrlC", "ForceStop", "run_until_signal", "take_signals"]

error_log = logging.getLogger("wsgikit.error")


class CtrlC(KeyboardInterrupt, ServerExit):
    """Ctrl-C, raised through a running app (the engine lets a ServerExit through)."""


def _ctrl_c(signum: int, frame: FrameType | None) -> None:
    raise CtrlC


def take_signals(wake_fd: int) -> Callable[[], None]:
    """On the main thread, while the loop runs: every signal wakes the loop, and Python's own
    SIGINT handler (nobody else's) gives way to :func:`_ctrl_c`. Returns what undoes both."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    # The kernel may deliver a signal to a pool thread; its Python handler runs on this thread
    # only once the loop wakes, up to a poll timeout later, and a second signal in that time
    # would merge with the first (Ctrl-C twice read as once).
    previous_fd = signal.set_wakeup_fd(wake_fd, warn_on_full_buffer=False)
    ctrl_c = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if ctrl_c:
        signal.signal(signal.SIGINT, _ctrl_c)

    def restore() -> None:
        signal.set_wakeup_fd(previous_fd)
        if ctrl_c and signal.getsignal(signal.SIGINT) is _ctrl_c:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    return restore


class ForceStop(ServerExit):
    """A second SIGINT/SIGTERM, raised through the inline app that keeps the loop: stop now."""


def run_until_signal(server: EventServer) -> None:
    """Run ``server`` in this (main) thread; SIGINT or SIGTERM stop it gracefully, twice: now.

    Now even inline, where the app runs on this thread and the loop would wait for it: the
    second signal raises a :class:`~wsgikit.gateway.ServerExit` through the app, which the
    engine lets through and :meth:`EventServer.run` takes for a stop without drain.
    """

    def on_signal(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if not server.stopping:
            # stop() before the log line: a signal that lands while this one logs (handlers
            # nest) is then a second one, not another first
            server.stop()
            error_log.info("received %s, finishing in-flight requests", name)
            return
        # A second one: the user does not want to wait for the drain.
        server.stop(force=True)
        error_log.warning("received %s again, stopping now", name)
        if server._in_app:  # inline: the loop is in the app, on this thread; get out of it
            server._in_app = False
            raise ForceStop

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
