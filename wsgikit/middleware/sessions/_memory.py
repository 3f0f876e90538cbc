"""MemoryStore: server-side sessions in a dict of this process. For tests and development.

Sessions vanish on restart and are not shared between processes (``--workers N``); use
:class:`SQLiteStore` on one machine or :class:`RedisStore` across machines in production::

    SessionMiddleware(app, secret=SECRET, store=MemoryStore())
"""

from __future__ import annotations

import threading
import time

from wsgikit.middleware.sessions._store import ServerStore

__all__ = ["MemoryStore"]

_PURGE_EVERY = 256  # saves between sweeps of expired entries: bounded memory, amortised cost


class MemoryStore(ServerStore):
    """Sessions in a thread-safe dict, each dropped ``max_age`` seconds after its last save."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._saves = 0

    def load(self, session_id: str) -> str | None:
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None:
                return None
            if entry[0] <= time.time():
                del self._entries[session_id]
                return None
            return entry[1]

    def save(self, session_id: str, payload: str, max_age: int) -> None:
        with self._lock:
            self._entries[session_id] = (time.time() + max_age, payload)
            self._saves += 1
            if self._saves % _PURGE_EVERY == 0:
                self._purge_locked()

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._entries.pop(session_id, None)

    def purge(self) -> int:
        """Drop every expired session now; return how many were dropped."""
        with self._lock:
            return self._purge_locked()

    def _purge_locked(self) -> int:
        now = time.time()
        expired = [key for key, (expires, _) in self._entries.items() if expires <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)

    def __len__(self) -> int:
        """How many sessions are kept, expired ones not yet purged included."""
        return len(self._entries)

    def __repr__(self) -> str:
        return f"MemoryStore(<{len(self._entries)} sessions>)"
