"""Readiness pollers for the event loop: epoll where the kernel has it, ``selectors`` elsewhere.

:class:`~wsgikit.servers._loop.EventServer` talks to one small interface, :class:`Poller`:
``register``/``modify``/``unregister`` a descriptor with a mask of the poller's own ``READ``,
``WRITE``, ``ONESHOT`` and ``HUP`` flags, ``poll(timeout)`` for ``(fd, events)`` pairs, and a
wake-up channel (``wake()``; ``wake_write_fd`` for ``signal.set_wakeup_fd``). Two implementations:

- :class:`EpollPoller` (Linux): the epoll object's own methods, nothing in between, so the
  loop's hot path costs what it did when it called ``select.epoll`` itself; listeners get
  ``EPOLLEXCLUSIVE`` where the kernel has it (worker processes sharing a listening socket: one
  of them wakes per connection, not all of them).
- :class:`SelectorPoller` (macOS, the BSDs, Windows: ``selectors.DefaultSelector``, i.e. kqueue,
  poll or select): ``ONESHOT`` is emulated, a descriptor is taken out of the selector once its
  event is delivered and put back by the next ``modify``.

``WSGIKIT_POLLER`` (or ``EventServer(poller=...)``) chooses: ``auto`` (epoll where
``select.epoll`` exists), ``epoll``, ``selectors``, or one selector by name (``kqueue``,
``poll``, ``select``) to try another OS's behaviour here::

    poller = poller_class("auto")()
    poller.register(sock.fileno(), poller.READ | poller.ONESHOT)
    for fd, events in poller.poll(1.0): ...

Nothing here reads ``select.EPOLL*`` at import time without a default: this module imports on
every OS.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import selectors
import socket
import threading
from collections.abc import Callable
from typing import ClassVar

__all__ = [
    "ENV",
    "WAIT_READ",
    "WAIT_WRITE",
    "EpollPoller",
    "Poller",
    "PollerError",
    "SelectorPoller",
    "poller_class",
    "raise_fd_limit",
    "wait_for",
]

ENV = "WSGIKIT_POLLER"
# Masks for wait_for(); the values of select.POLLIN and POLLOUT, so that a caller passing those
# (on Linux) keeps working.
WAIT_READ, WAIT_WRITE = 1, 4


class PollerError(ValueError):
    """An unknown poller name, or one this OS does not have (raised when the server is built)."""


class Poller:
    """What the loop needs from a readiness poller. Subclasses set the flags and the methods."""

    name: ClassVar[str]
    READ: ClassVar[int]
    WRITE: ClassVar[int]
    ONESHOT: ClassVar[int]  # disarm once an event is delivered, until the next modify()
    HUP: ClassVar[int]  # the peer half-closed (epoll's EPOLLRDHUP; 0 where readable says it)
    EXCLUSIVE: ClassVar[int]  # for listeners: wake one of the processes sharing it (0: none)

    register: Callable[[int, int], None]
    modify: Callable[[int, int], None]
    unregister: Callable[[int], None]
    poll: Callable[[float], list[tuple[int, int]]]

    def __init__(self) -> None:
        # A socket pair, not a pipe: Windows' select() and set_wakeup_fd() take only sockets.
        self._wake_r, self._wake_w = socket.socketpair()
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        self.wake_fd = self._wake_r.fileno()
        self.wake_write_fd = self._wake_w.fileno()
        self.listener_events: dict[int, int] = {}  # listener fd -> the mask it is registered with

    def wake(self) -> None:
        """Make a poll() in progress return (safe from any thread and from signal handlers)."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_r.recv(4096)

    def add_listener(self, fd: int) -> None:
        """Watch a listening socket, exclusively where the poller can (see ``EXCLUSIVE``)."""
        events = self.READ | self.EXCLUSIVE
        try:
            self.register(fd, events)
        except OSError as exc:
            if not self.EXCLUSIVE or exc.errno != errno.EINVAL:
                raise
            events = self.READ  # a kernel older than 4.5: the flag exists, the feature not
            self.register(fd, events)
        self.listener_events[fd] = events

    def remove_listener(self, fd: int) -> None:
        """Stop watching a listener (EPOLLEXCLUSIVE forbids modify(): take it out instead)."""
        if self.listener_events.pop(fd, None) is not None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                self.unregister(fd)

    def close(self) -> None:
        self._wake_r.close()
        self._wake_w.close()


class EpollPoller(Poller):
    """Linux epoll; the loop calls the epoll object's methods directly."""

    name = "epoll"
    READ = getattr(select, "EPOLLIN", 1)
    WRITE = getattr(select, "EPOLLOUT", 4)
    ONESHOT = getattr(select, "EPOLLONESHOT", 1 << 30)
    HUP = getattr(select, "EPOLLRDHUP", 0x2000)
    EXCLUSIVE = getattr(select, "EPOLLEXCLUSIVE", 0)

    def __init__(self) -> None:
        epoll = select.epoll()
        super().__init__()
        self._epoll = epoll
        self.register = epoll.register
        self.modify = epoll.modify
        self.unregister = epoll.unregister
        self.poll = epoll.poll
        self.epoll_fd = epoll.fileno()

    def close(self) -> None:
        self._epoll.close()
        super().close()


class SelectorPoller(Poller):
    """A ``selectors`` selector with ONESHOT emulated: a delivered descriptor leaves the selector.

    Pool threads re-arm descriptors while the loop waits. kqueue and epoll selectors see that
    at once; poll() and select() only on their next call, so a change from another thread wakes
    the loop then (else the connection would wait up to the loop's one-second tick).
    """

    name = "selectors"
    READ = selectors.EVENT_READ
    WRITE = selectors.EVENT_WRITE
    ONESHOT = 4
    HUP = 0  # a selector reports a half-closed peer as readable
    EXCLUSIVE = 0
    selector_class: ClassVar[type[selectors.BaseSelector]] = selectors.DefaultSelector

    def __init__(self) -> None:
        super().__init__()
        self.selector = self.selector_class()
        self._masks: dict[int, int] = {}  # every registered fd -> its mask, armed or not
        self._lock = threading.Lock()
        live = (getattr(selectors, n, None) for n in ("EpollSelector", "KqueueSelector"))
        self._live = isinstance(self.selector, tuple(c for c in live if c is not None))
        self._loop_thread = 0

    def register(self, fd: int, events: int) -> None:
        with self._lock:
            if fd in self._masks:
                raise FileExistsError(errno.EEXIST, "already registered", fd)
            self._masks[fd] = events
            self._set(fd, events, armed=False)
        self._changed()

    def modify(self, fd: int, events: int) -> None:
        with self._lock:
            if fd not in self._masks:
                raise FileNotFoundError(errno.ENOENT, "not registered", fd)
            self._masks[fd] = events
            self._set(fd, events, armed=fd in self.selector.get_map())
        self._changed()

    def unregister(self, fd: int) -> None:
        with self._lock:
            if self._masks.pop(fd, None) is None:
                raise FileNotFoundError(errno.ENOENT, "not registered", fd)
            if fd in self.selector.get_map():
                self.selector.unregister(fd)

    def _set(self, fd: int, events: int, *, armed: bool) -> None:
        want = events & (self.READ | self.WRITE)
        if armed and want:
            self.selector.modify(fd, want)
        elif armed:
            self.selector.unregister(fd)  # a selector takes no empty mask
        elif want:
            self.selector.register(fd, want)

    def _changed(self) -> None:
        if not self._live and threading.get_ident() != self._loop_thread:
            self.wake()

    def poll(self, timeout: float) -> list[tuple[int, int]]:
        self._loop_thread = threading.get_ident()
        ready = self.selector.select(timeout)
        found = []
        with self._lock:
            in_selector = self.selector.get_map()
            for key, events in ready:
                mask = self._masks.get(key.fd)
                if mask is None:
                    continue  # unregistered since (by a pool thread closing it)
                if mask & self.ONESHOT and key.fd in in_selector:
                    self.selector.unregister(key.fd)  # the emulated oneshot: disarm
                found.append((key.fd, events))
        return found

    def close(self) -> None:
        self.selector.close()
        super().close()


def _selector_poller(selector_name: str) -> type[SelectorPoller]:
    cls = getattr(selectors, selector_name)
    name = selector_name.removesuffix("Selector").lower()
    return type(f"{selector_name}Poller", (SelectorPoller,), {"selector_class": cls, "name": name})


_SELECTORS = {"kqueue": "KqueueSelector", "poll": "PollSelector", "select": "SelectSelector"}


def poller_class(name: str | None = None) -> type[Poller]:
    """The poller called ``name`` (None: the ``WSGIKIT_POLLER`` environment variable, or auto)."""
    if name is None:
        name = os.environ.get(ENV, "") or "auto"
    if name == "auto":
        return EpollPoller if hasattr(select, "epoll") else SelectorPoller
    if name == "epoll" and hasattr(select, "epoll"):
        return EpollPoller
    if name == "selectors":
        return SelectorPoller
    if name in _SELECTORS and hasattr(selectors, _SELECTORS[name]):
        return _selector_poller(_SELECTORS[name])
    known = ", ".join(["auto", "epoll", "selectors", *_SELECTORS])
    if name == "epoll" or name in _SELECTORS:
        raise PollerError(f"poller {name!r} is not available on this system (try selectors)")
    raise PollerError(f"unknown poller {name!r} (from {ENV} or poller=); expected one of {known}")


def _wait_poll(fd: int, mask: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN if mask & WAIT_READ else select.POLLOUT)
    return bool(poller.poll(timeout * 1000))


def _wait_select(fd: int, mask: int, timeout: float) -> bool:
    # select() only where poll() is missing (Windows): on POSIX it cannot take fds >= FD_SETSIZE.
    reading = [fd] if mask & WAIT_READ else []
    writing = [] if mask & WAIT_READ else [fd]
    readable, writable, _ = select.select(reading, writing, [], timeout)
    return bool(readable or writable)


# A pool thread's own blocking wait on one socket: True when ready, False on timeout.
wait_for: Callable[[int, int, float], bool] = (
    _wait_poll if hasattr(select, "poll") else _wait_select
)


def raise_fd_limit() -> None:
    """Lift the soft limit on open files to the hard one: each client is a file descriptor."""
    try:
        import resource  # noqa: PLC0415 (POSIX only)
    except ImportError:
        return  # Windows: select() there has its own limit (FD_SETSIZE)
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
