"""Worker processes sharing a listening socket take turns at accepting: each holds its share.

Why: workers sharing one listening socket are woken one at a time (``EPOLLEXCLUSIVE``), and the
kernel wakes the first idle one on the socket's wait queue; it then accepted up to 64 connections
per wake-up. 50 keep-alive connections arriving together split 50/0, 8/42 between two workers,
and with keep-alive clients the idle worker stayed idle: ``--workers 2`` barely beat one.

How: before forking, the manager makes a :class:`Board`, an anonymous shared ``mmap`` that every
worker inherits, one slot per worker slot index (a replacement reuses its predecessor's slot):
``[pid, open connections, stamp]``. Each worker publishes its count as it accepts and closes
(plain aligned 8-byte stores, no locks: a hint). Before accepting, a worker asks
:meth:`AcceptShare.allowance`: it may hold up to ``least + slack + 1`` connections, ``least``
being the fewest any *other* live worker holds and ``slack = max(2, least // 10)``: two absorb the
connections that open and close as requests come and go (no flip-flop on every one), a tenth keeps
stepping aside rare once each worker holds hundreds (a 10% imbalance costs little; 50/0 costs a
core). So a worker takes a small budget per wake-up while others are idle, and the least-loaded
worker always accepts: never all of them step aside.

A worker with no allowance *steps aside*: its listeners leave its poller (a level-triggered
listener would wake it again at once) and it asks the manager (``kick`` on its pipe) to wake the
others, through each one's kick pipe. A kicked worker tries ``accept()`` at once: it must, since
the connections already queued woke only the worker that stepped aside (``EPOLLEXCLUSIVE``), and
epoll tells another worker of a listener only when the next connection arrives. A worker that
stepped aside comes back when kicked with an allowance, or at its sweep (once a second).

Live: a slot with a pid and a stamp (refreshed by the loop's sweep) under :data:`STALE` seconds
old, so an inline worker stuck in the app is nobody's ``least``. The manager clears a slot as its
worker retires or dies, and kicks the others. ``--reuse-port`` has no board: each worker has its
own socket, whose queue nobody else could take over. Without a manager there is no board at all::

    board = Board()                                      # manager, before forking
    share = AcceptShare(board, slot, (kick_r, kick_w), pipe.send)  # in the worker
    server.accept_share = share                          # EventServer calls it
"""

from __future__ import annotations

import contextlib
import mmap
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgikit.servers._loop import EventServer

__all__ = ["SLOTS", "STALE", "AcceptShare", "Board", "room"]

SLOTS = 256  # worker slots a board holds (HUP runs two generations at once; TTIN adds more)
STALE = 3.0  # seconds without a sweep: that worker's loop is stuck, it is nobody's least
_FIELDS = 3  # per slot: pid, open connections, stamp (monotonic milliseconds)
_PID, _COUNT, _STAMP = range(_FIELDS)
_HIGH = 0  # the header cell: slots in use are below it (a worker scans only those)
_HEADER = 1


def room(mine: int, least: int | None) -> int:
    """Connections this worker may accept now: ``least`` is the fewest another live worker
    holds (None: no other worker, no limit)."""
    if least is None:
        return 1 << 30
    return least + max(2, least // 10) + 1 - mine


class Board:
    """The shared slots, made by the manager before it forks; the workers inherit the mapping."""

    def __init__(self, slots: int = SLOTS) -> None:
        self.slots = slots
        self._map = mmap.mmap(-1, 8 * (_HEADER + _FIELDS * slots))  # MAP_SHARED | MAP_ANONYMOUS
        self.cells = memoryview(self._map).cast("q")  # aligned 8-byte cells

    def take(self, used: set[int]) -> int:
        """The lowest slot not in ``used`` (-1: all taken; that worker does without)."""
        slot = next((i for i in range(self.slots) if i not in used), -1)
        if slot >= 0:
            self.clear(slot)
            self.cells[_HIGH] = max(self.cells[_HIGH], slot + 1)
        return slot

    def clear(self, slot: int) -> None:
        """Its worker retired or died: not live, holds nothing."""
        base = _HEADER + _FIELDS * slot
        self.cells[base + _PID] = 0
        self.cells[base + _COUNT] = 0

    def close(self) -> None:
        self.cells.release()
        self._map.close()


class AcceptShare:
    """One worker's side of the board: its slot, its kick pipe (read end), and ``ask(line)``
    which sends a line to the manager (``kick``: wake the others)."""

    def __init__(
        self, board: Board, slot: int, kick: tuple[int, int], ask: Callable[[str], None]
    ) -> None:
        self.cells = board.cells
        self.base = _HEADER + _FIELDS * slot
        self.fd, self._kick_w = kick  # both ends: a close while aside may kick this worker
        self._ask = ask
        self.aside = False  # stepped aside: the listeners are out of the poller
        self._server: EventServer | None = None

    def start(self, server: EventServer) -> None:
        """From ``EventServer.run()`` once the poller exists: watch the kick pipe, go live."""
        self._server = server
        server.poller.register(self.fd, server.poller.READ)
        if server.accepting:  # not retired while it booted (the manager cleared the slot)
            self.go_live(len(server.conns))

    def go_live(self, conns: int) -> None:
        """Publish this worker in its slot: its connections, a fresh stamp, then its pid."""
        self.cells[self.base + _COUNT] = conns
        self.cells[self.base + _STAMP] = int(time.monotonic() * 1000)
        self.cells[self.base + _PID] = os.getpid()

    def count(self, conns: int) -> None:
        """Publish the open connections (on accept and close; any thread). Aside, a close may
        make this worker the least loaded: the others may all be aside, so wake our loop."""
        self.cells[self.base + _COUNT] = conns
        if self.aside and room(conns, self.least()) > 0:
            with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
                os.write(self._kick_w, b"k")

    def least(self) -> int | None:
        """The fewest connections another live worker holds (None: no other live worker)."""
        cells = self.cells
        fresh = int(time.monotonic() * 1000) - int(STALE * 1000)
        least: int | None = None
        for base in range(_HEADER, _HEADER + _FIELDS * cells[_HIGH], _FIELDS):
            if base != self.base and cells[base + _PID] and cells[base + _STAMP] > fresh:
                count = cells[base + _COUNT]
                if least is None or count < least:
                    least = count
        return least

    def allowance(self, budget: int) -> int:
        """How many of ``budget`` to accept now; 0: this worker has stepped aside."""
        server = self._server
        if server is None or server.stopping or not self.cells[self.base + _PID]:
            return budget  # not started, retiring (the manager cleared the slot), draining
        allowed = room(len(server.conns), self.least())
        if allowed > 0:
            return min(budget, allowed)
        for fd in server.listeners:  # else the level-triggered listener wakes us at once
            server.poller.remove_listener(fd)
        if not self.aside:
            self.aside = True
            self._ask("kick")  # the connections queued now woke nobody else
        return 0

    def on_kick(self) -> None:
        """The manager woke us: another worker stepped aside, or a slot was cleared."""
        with contextlib.suppress(OSError):  # until drained (BlockingIOError); never at its end:
            while os.read(self.fd, 4096):  # this worker holds the write end too
                pass
        self._try_accept()

    def tick(self, now: float) -> None:
        """The loop's sweep (once a second): stamp the slot; come back if stepped aside. A
        worker that stopped accepting (its manager gone, a signal sent to it alone) leaves the
        board: nobody must step aside for it while it drains."""
        self.cells[self.base + _STAMP] = int(now * 1000)
        server = self._server
        if server is not None and not server.accepting and self.cells[self.base + _PID]:
            self.cells[self.base + _PID] = 0
            self._ask("kick")
        elif self.aside:
            self._try_accept()

    def _try_accept(self) -> None:
        server = self._server
        if server is None or not server.accepting:
            return
        if self.aside:
            if room(len(server.conns), self.least()) <= 0:
                return
            self.aside = False
            for fd in server.listeners:
                server.poller.add_listener(fd)
        for sock, info in list(server.listeners.values()):
            server._accept(sock, info)  # the loop's own, with this policy
