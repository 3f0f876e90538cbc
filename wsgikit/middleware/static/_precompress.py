"""StaticFiles' offline step: ``wsgikit compress DIR`` writes the precompressed siblings it serves.

Private to :mod:`wsgikit.middleware.static`, which exports ``compress_directory`` (the
command line is :mod:`wsgikit._compress`). For each file whose type is worth compressing (the types
GzipMiddleware compresses: text, JS, JSON, SVG, fonts...), it writes ``NAME.gz`` (and ``NAME.br``
with ``brotli``, ``NAME.zst`` with ``zstandard``) at the codecs' best levels: done once, offline,
they cost nothing per request. A sibling that does not save more than 5% is not written (the
server would send more headers than it saves). Idempotent: a sibling carries its file's mtime,
and one that already does is left alone; a sibling older than its file is rewritten (StaticFiles
never serves a stale one). Dotfiles, dot directories and symlinks are skipped::

    report = compress_directory("/srv/static")  # Report(written=12, up_to_date=0, ...)
"""

from __future__ import annotations

import gzip
import importlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from wsgikit.middleware.gzip import DEFAULT_MIME_TYPES
from wsgikit.middleware.static._entry import SUFFIXES, content_type

__all__ = ["CompressReport", "compress_directory"]

MIN_SAVING = 0.05  # a sibling must be at least 5% smaller than its file
_TYPES = frozenset(DEFAULT_MIME_TYPES)
_ZSTD_MAX_WINDOW_LOG = 23  # RFC 9659: the "zstd" content coding limits the window to 8 MB


@dataclass
class CompressReport:
    """What ``compress_directory`` did, by sibling."""

    written: list[str] = field(default_factory=list)
    up_to_date: int = 0
    not_smaller: int = 0
    missing: list[str] = field(default_factory=list)  # codings whose library is not installed
    min_saving: float = MIN_SAVING


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, 9, mtime=0)  # mtime 0: the same bytes on every run


def _brotli(data: bytes) -> bytes:
    brotli: Any = importlib.import_module("brotli")
    return bytes(brotli.compress(data, quality=11))


def _zstd(data: bytes) -> bytes:
    zstandard: Any = importlib.import_module("zstandard")
    params = zstandard.ZstdCompressionParameters.from_level(19, source_size=len(data))
    if params.window_log > _ZSTD_MAX_WINDOW_LOG:
        params = zstandard.ZstdCompressionParameters.from_level(
            19, source_size=len(data), window_log=_ZSTD_MAX_WINDOW_LOG
        )
    compressed: bytes = zstandard.ZstdCompressor(compression_params=params).compress(data)
    return compressed


_CODECS: dict[str, tuple[str | None, Callable[[bytes], bytes]]] = {
    "gzip": (None, _gzip),
    "br": ("brotli", _brotli),
    "zstd": ("zstandard", _zstd),
}


def _installed(coding: str) -> bool:
    module = _CODECS[coding][0]
    if module is None:
        return True
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def compressible(name: str) -> bool:
    """Whether a file name's type is one worth compressing (GzipMiddleware's default types)."""
    media = content_type(name, {}).partition(";")[0]
    kind, _, sub = media.partition("/")
    if media in _TYPES or f"{kind}/*" in _TYPES:
        return True
    return "+" in sub and f"{kind}/*+{sub.rpartition('+')[2]}" in _TYPES


def _files(root: str) -> Iterator[str]:
    suffixes = tuple(SUFFIXES.values())
    for here, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and not name.endswith(suffixes) and compressible(name):
                yield os.path.join(here, name)


def compress_directory(
    root: str, encodings: tuple[str, ...] = ("gzip", "br", "zstd")
) -> CompressReport:
    """Write the missing or stale precompressed siblings of the files under ``root``."""
    if not os.path.isdir(root):
        raise ValueError(f"{root!r} is not a directory")
    report = CompressReport()
    codings: list[str] = []
    for coding in encodings:
        if coding not in _CODECS:
            raise ValueError(f"unknown coding {coding!r} (of {', '.join(_CODECS)})")
        (codings if _installed(coding) else report.missing).append(coding)
    for path in _files(root):
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            _compress_file(path, st, codings, report)
    return report


def _compress_file(
    path: str, st: os.stat_result, codings: list[str], report: CompressReport
) -> None:
    data: bytes | None = None
    for coding in codings:
        target = path + SUFFIXES[coding]
        try:
            if os.stat(target).st_mtime_ns == st.st_mtime_ns:
                report.up_to_date += 1
                continue
        except OSError:
            pass
        if data is None:
            with open(path, "rb") as file:
                data = file.read()
        packed = _CODECS[coding][1](data)
        if len(packed) > len(data) * (1 - MIN_SAVING):
            report.not_smaller += 1
            if os.path.lexists(target):
                os.unlink(target)  # a stale sibling of a file that no longer compresses
            continue
        _write(target, packed, st)
        report.written.append(target)


def _write(target: str, data: bytes, original: os.stat_result) -> None:
    """Write atomically (a server never sees half a file), with the original's mtime."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".compress-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.utime(temporary, ns=(original.st_atime_ns, original.st_mtime_ns))
        os.chmod(temporary, stat.S_IMODE(original.st_mode))
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
