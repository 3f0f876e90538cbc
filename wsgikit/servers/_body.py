"""Request bodies as they arrive: in memory while small, then in a temporary file.

Every server on the loop (HTTP, FastCGI, SCGI) keeps the body of each request in a :class:`Body`.
The loop appends what it reads; the app's ``wsgi.input`` reads it back. A body moves to a file
once it holds more than ``spool_at`` bytes, or as soon as the bodies of all connections together
hold more than the server's :class:`BodyMemory` budget, so a burst of slow uploads costs disk
rather than RAM, and the memory comes back when they end::

    memory = BodyMemory(limit=32 << 20)
    body = Body(memory)
    body.append(b"part one ")       # on the loop, as bytes arrive
    body.append(b"part two")
    body.read(100)                  # on the app's thread: b"part one part two"
    body.close()                    # memory accounted back, file closed
"""

from __future__ import annotations

import ctypes
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from typing import IO

__all__ = ["SPOOL_AT", "Body", "BodyMemory"]

SPOOL_AT = 1 << 16  # one body's bytes held in memory before the rest goes to a file


class BodyMemory:
    """The bytes all bodies of a server hold in memory, against a ``limit``.

    Bodies add and remove from the loop and from pool threads, so the count is under a lock.
    When a burst ends (nothing held any more after ``limit / 4`` or more was), :meth:`trim` gives
    the allocator's free memory back to the system (glibc keeps freed small blocks otherwise, and
    the RSS of a server that once held many bodies would never come down).
    """

    __slots__ = ("_lock", "limit", "peak", "used")

    def __init__(self, limit: int = 32 << 20) -> None:
        if type(limit) is not int or limit < 0:
            raise ValueError(f"body memory limit must be an int >= 0, got {limit!r}")
        self.limit = limit
        self.used = 0
        self.peak = 0  # the most held since the last trim
        self._lock = threading.Lock()

    def take(self, size: int, *, force: bool = False) -> bool:
        """Account ``size`` more bytes in memory; False (nothing accounted) past the limit,
        unless ``force``."""
        with self._lock:
            used = self.used + size
            if used > self.limit and not force:
                return False
            self.used = used
            self.peak = max(self.peak, used)
            return True

    def give(self, size: int) -> None:
        with self._lock:
            self.used -= size

    def trim(self) -> bool:
        """After a burst, hand free heap memory back to the system; True if it did."""
        if self.used or self.peak < max(self.limit // 4, 1 << 20):
            return False
        self.peak = 0
        return _malloc_trim()


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:  # the symbols of the running program, libc's among them
        function: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # glibc has it; musl, macOS, Windows do not
        return None
    return function


_trim_function = _load_malloc_trim()


def _malloc_trim() -> bool:
    if _trim_function is None:
        return False
    _trim_function(0)
    return True


class Body:
    """One request's body: ``append`` what arrives, ``end()``; ``read(n)`` gives it back in order.

    ``read`` returns 1..n bytes of what has arrived, or b"" when nothing is waiting (then
    ``ended`` says whether more can come). ``spool_at=None`` never spools: for bodies the app
    reads while they arrive (streaming), where at most one read's worth waits at a time.
    """

    __slots__ = ("_chunks", "_file", "_held", "_memory", "_spool_at", "ended", "size")

    def __init__(self, memory: BodyMemory, spool_at: int | None = SPOOL_AT) -> None:
        self._memory = memory
        self._spool_at = spool_at
        self._chunks: deque[bytes] = deque()
        self._held = 0  # bytes in _chunks, accounted in memory
        self._file: IO[bytes] | None = None
        self.size = 0  # bytes appended in all
        self.ended = False

    @property
    def spooled(self) -> bool:
        return self._file is not None

    @property
    def waiting(self) -> int:
        """Bytes that arrived and were not read yet, in memory (a spooled body says 0)."""
        return self._held

    def append(self, data: bytes) -> None:
        size = len(data)
        self.size += size
        file = self._file
        if file is not None:
            file.write(data)
            return
        spool_at = self._spool_at
        if spool_at is not None and (self._held + size > spool_at or not self._memory.take(size)):
            self._spool(data)
            return
        if spool_at is None:
            self._memory.take(size, force=True)  # streaming holds one read's worth: never refused
        self._chunks.append(data)
        self._held += size

    def _spool(self, data: bytes) -> None:
        file = tempfile.TemporaryFile(prefix="wsgikit-body-")  # noqa: SIM115 (closed by close())
        chunks = self._chunks
        try:
            while chunks:
                file.write(chunks.popleft())
            file.write(data)
        except BaseException:
            file.close()
            raise
        self._memory.give(self._held)
        self._held = 0
        self._file = file

    def end(self) -> None:
        """No more bytes will come: a spooled body is rewound for reading."""
        self.ended = True
        if self._file is not None:
            self._file.seek(0)

    def read(self, size: int) -> bytes:
        chunks = self._chunks
        if chunks:
            chunk = chunks[0]
            if len(chunk) <= size:
                chunks.popleft()
            else:
                chunks[0] = chunk[size:]
                chunk = chunk[:size]
            self._held -= len(chunk)
            self._memory.give(len(chunk))
            return chunk
        file = self._file
        if file is not None and self.ended:
            return file.read(size)
        return b""

    def close(self) -> None:
        """Forget the body: memory accounted back, the file closed. Safe to call twice."""
        if self._held:
            self._memory.give(self._held)
            self._held = 0
        self._chunks.clear()
        file, self._file = self._file, None
        if file is not None:
            file.close()
