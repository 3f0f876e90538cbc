"""StaticFiles' range step: parse ``Range`` and send one range or several (RFC 9110 §14).

Private to :mod:`wsgikit.middleware.static`. ``parse_ranges`` answers None when the field must
be ignored (malformed, another unit, too many ranges: §14.2 lets a server ignore those; the whole
file is sent with 200), an empty list when no range is satisfiable (416 with ``Content-Range:
bytes */N``), else the (first, last) byte positions. One range is a :class:`Slice` of the file
(sendable with ``wsgi.file_wrapper``: our server uses sendfile from its offset), several are a
``multipart/byteranges`` body (§14.6)::

    ranges = parse_ranges("bytes=0-99,-100", size)   # [(0, 99), (size - 100, size - 1)]
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["BLOCK", "FileBody", "MultipartBody", "Slice", "parse_ranges"]

BLOCK = 1 << 16  # bytes read at a time when a file is sent without sendfile
_MAX_RANGES = 64  # more are ignored (§14.2: a server MAY ignore a Range with many ranges)
_SPEC = re.compile(r"[ \t]*(?:([0-9]+)-([0-9]*)|-([0-9]+))[ \t]*")
_HUGE = 1 << 63  # a position longer than 19 digits lies past any file


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= 19 else _HUGE


def parse_ranges(value: str, size: int) -> list[tuple[int, int]] | None:
    """The satisfiable ranges of a Range field (RFC 9110 §14.1.1, §14.1.2), or None to ignore it."""
    unit, equals, specs = value.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None  # §14.1: an unknown unit is ignored
    items = [item for item in specs.split(",") if item.strip()]  # §5.6.1: empty list elements
    if not items or len(items) > _MAX_RANGES:
        return None
    ranges = []
    for item in items:
        match = _SPEC.fullmatch(item)
        if match is None:
            return None  # malformed: the whole field is ignored
        first, last, suffix = match.groups()
        if suffix is not None:
            length = _position(suffix)
            if length > 0 and size > 0:
                ranges.append((max(0, size - length), size - 1))
            continue
        start = _position(first)
        end = _position(last) if last else _HUGE
        if end < start:
            return None  # §14.1.1: last-pos < first-pos makes the field invalid
        if start < size:
            ranges.append((start, min(end, size - 1)))
    return ranges


class Slice:
    """``length`` bytes of an open file from ``start``: a file-like for ``wsgi.file_wrapper``.

    ``fileno()`` and ``tell()`` let a server sendfile from the offset (it sends Content-Length
    bytes); ``read()`` never goes past the slice, for servers that iterate.
    """

    __slots__ = ("_file", "_left")

    def __init__(self, file: BinaryIO, start: int, length: int) -> None:
        file.seek(start)
        self._file, self._left = file, length

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._left:
            size = self._left
        data = self._file.read(size) if size else b""
        self._left -= len(data)
        return data

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()


class FileBody:
    """A file (or a slice of it) as a WSGI iterable, without a ``wsgi.file_wrapper``."""

    __slots__ = ("_slice",)

    def __init__(self, file: BinaryIO, start: int, length: int) -> None:
        self._slice = Slice(file, start, length)

    def __iter__(self) -> Iterator[bytes]:
        read = self._slice.read
        while data := read(BLOCK):
            yield data

    def close(self) -> None:
        self._slice.close()


class MultipartBody:
    """Several ranges of a file as ``multipart/byteranges`` (RFC 9110 §14.6)."""

    __slots__ = ("_file", "_parts", "boundary", "length")

    def __init__(
        self, file: BinaryIO, ranges: list[tuple[int, int]], size: int, media: str
    ) -> None:
        self._file = file
        self.boundary = secrets.token_hex(16)  # random: it must not occur in the content
        head = f"--{self.boundary}\r\nContent-Type: {media}\r\n"
        self._parts = [
            ((head + f"Content-Range: bytes {a}-{b}/{size}\r\n\r\n").encode("latin-1"), a, b)
            for a, b in ranges
        ]
        tail = len(f"--{self.boundary}--\r\n")
        self.length = sum(len(p) + (b - a + 1) + 2 for p, a, b in self._parts) + tail

    def __iter__(self) -> Iterator[bytes]:
        for head, first, last in self._parts:
            yield head
            self._file.seek(first)
            left = last - first + 1
            while left > 0:
                data = self._file.read(min(BLOCK, left))
                if not data:
                    raise OSError("the file became shorter while it was sent")
                left -= len(data)
                yield data
            yield b"\r\n"
        yield f"--{self.boundary}--\r\n".encode("latin-1")

    def close(self) -> None:
        self._file.close()
