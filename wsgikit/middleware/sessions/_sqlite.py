"""SQLiteStore: server-side sessions in an SQLite file, shared by every process of one machine.

The embedded default for server-side sessions: no server to run, safe with ``--workers N``
(WAL journal, a busy timeout, one connection a process), expired rows purged as it goes::

    SessionMiddleware(app, secret=SECRET, store=SQLiteStore("/var/lib/myapp/sessions.db"))

The path is the database's; session ids are only ever keys in it, never parts of a path.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import weakref
from typing import Any

from wsgikit.middleware.sessions._errors import StoreUnavailableError
from wsgikit.middleware.sessions._store import ServerStore

__all__ = ["SQLiteStore"]

_identifier = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z").match


def _close_if_owner(conn: sqlite3.Connection, pid: int) -> None:
    # Only the process that opened it: closing an inherited connection in a forked child could
    # checkpoint or remove the WAL the parent is using (sqlite.org/howtocorrupt §2.6).
    if os.getpid() == pid:
        conn.close()


class SQLiteStore(ServerStore):
    """Sessions in table ``table`` of the SQLite database at ``path``.

    ``timeout`` is how long a write waits for another process's lock before the store counts as
    unavailable (503); expired rows are deleted at most every ``purge_interval`` seconds.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "wsgikit_sessions",
        timeout: float = 5.0,
        purge_interval: float = 300.0,
    ) -> None:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path must be a str or os.PathLike, got {path!r}")
        self.path = os.fspath(path)
        if not self.path or "\x00" in self.path:
            raise ValueError(f"path must be a file name, got {self.path!r}")
        if not isinstance(table, str) or not _identifier(table):
            raise ValueError(
                f"table must be an SQL identifier ([A-Za-z_][A-Za-z0-9_]*), got {table!r}"
            )
        for name, value in (("timeout", timeout), ("purge_interval", purge_interval)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        self.table = table
        self._timeout = float(timeout)
        self._purge_interval = float(purge_interval)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._next_purge = 0.0

    def _connection(self) -> sqlite3.Connection:
        # Opened lazily, once a process: a connection must not cross fork() (sqlite.org/howtocorrupt
        # §2.6), so a pre-fork master that never touched the store hands its workers nothing.
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            try:
                # WAL: readers never block the one writer; NORMAL sync is safe under WAL.
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} "
                    "(id TEXT PRIMARY KEY, data TEXT NOT NULL, expires REAL NOT NULL)"
                )
                conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {self.table}_expires ON {self.table} (expires)"
                )
            except BaseException:
                conn.close()
                raise
            self._conn, self._pid = conn, os.getpid()
            # A store dropped without close() (an app torn down, a config that failed to load)
            # still closes its connection when it is collected.
            weakref.finalize(self, _close_if_owner, conn, self._pid)
        return self._conn

    def _run(self, sql: str, *args: Any) -> tuple[list[Any], int]:
        """Rows and row count of one statement; any SQLite failure is the store being down."""
        try:
            with self._lock:
                cursor = self._connection().execute(sql, args)
                return cursor.fetchall(), cursor.rowcount
        except sqlite3.DatabaseError as exc:  # locked past the timeout, disk full, unreadable file
            raise StoreUnavailableError(f"SQLite session store {self.path!r}: {exc}") from exc

    def load(self, session_id: str) -> str | None:
        rows, _ = self._run(
            f"SELECT data FROM {self.table} WHERE id = ? AND expires > ?", session_id, time.time()
        )
        return str(rows[0][0]) if rows else None

    def save(self, session_id: str, payload: str, max_age: int) -> None:
        now = time.time()
        self._run(
            f"INSERT OR REPLACE INTO {self.table} (id, data, expires) VALUES (?, ?, ?)",
            session_id,
            payload,
            now + max_age,
        )
        if now >= self._next_purge:
            self._next_purge = now + self._purge_interval
            self.purge()

    def delete(self, session_id: str) -> None:
        self._run(f"DELETE FROM {self.table} WHERE id = ?", session_id)

    def purge(self) -> int:
        """Delete every expired row now; return how many were deleted."""
        _, count = self._run(f"DELETE FROM {self.table} WHERE expires <= ?", time.time())
        return count

    def close(self) -> None:
        """Close this process's connection; the next use opens a new one."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and self._pid == os.getpid():
                conn.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, table={self.table!r})"
