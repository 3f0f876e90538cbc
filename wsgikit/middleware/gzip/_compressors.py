"""GzipMiddleware's coding step: gzip, br and zstd behind one small interface.

gzip's ``level`` means zlib's: at each level the output is at most 2% larger than zlib's at that
level, made by the fastest installed deflate that achieves it (python-isal or zlib-ng, ``pip
install wsgikit[fast]``, else the stdlib's zlib; see ``_GZIP_CHOICES``); all three write the same
gzip format (RFC 1952). ``gzip_backend`` forces one of them. ``br`` needs
``brotli`` and ``zstd`` needs ``zstandard`` (the ``brotli`` and ``zstd`` extras)::

    codec = make_codec("gzip", level=6)
    body = codec.compress_all([b"<html>", b"...</html>"])
    stream = codec.compressor()
    out = stream.compress(b"data: 1\\n\\n") + stream.flush() + stream.finish()
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

__all__ = ["GZIP_BACKENDS", "Codec", "Compressor", "available", "make_codec"]

#: gzip backends in order of preference (fastest first) and the module each one imports.
GZIP_BACKENDS: dict[str, str] = {
    "isal": "isal.isal_zlib",
    "zlib-ng": "zlib_ng.zlib_ng",
    "zlib": "zlib",
}
_EXTRA_MODULES = {"br": "brotli", "zstd": "zstandard"}
_INSTALL = {"isal": "isal", "zlib-ng": "zlib-ng", "br": "brotli", "zstd": "zstandard"}

# gzip level (zlib's scale) -> (backend, that backend's level), fastest first, zlib last. Each
# choice's output is within 2% of zlib's at that level on every one of 14 real HTML pages of ~100
# KiB (pydoc of 12 stdlib modules, IDLE's help, a difflib table; `python
# benchmarks/middleware_gzip.py --candidates`, isal 1.9, zlib-ng 1.1, Python 3.11). Raw speed
# (CPU time) against zlib at the same level, worst page's size against zlib's:
#   1: isal 2 3.4-4.4x, +1.6% (isal 1 is +2.5%, isal 0 +13%); else zlib-ng 2 1.5x, -2.5%
#   2, 3: zlib-ng 3 1.2x / 1.4x, -2.1% / +0.2% (isal 3 is +8.4% / +13%)
#   4: zlib-ng 4 1.5x, +1.7%     5: zlib-ng 5 1.6-1.7x, +0.9%
#   6, 7: zlib-ng 7 1.2x / 1.4x, -0.2% / +0.2% (zlib-ng 6 and 5 are +6.7% on the ipaddress page)
#   8, 9: zlib-ng 9 2.3x / 2.7x, +0.4% / +0.5% (zlib-ng's 9 searches less than its 8)
_GZIP_CHOICES: tuple[tuple[tuple[str, int], ...], ...] = (
    (("isal", 2), ("zlib-ng", 2), ("zlib", 1)),
    (("zlib-ng", 3), ("zlib", 2)),
    (("zlib-ng", 3), ("zlib", 3)),
    (("zlib-ng", 4), ("zlib", 4)),
    (("zlib-ng", 5), ("zlib", 5)),
    (("zlib-ng", 7), ("zlib", 6)),
    (("zlib-ng", 7), ("zlib", 7)),
    (("zlib-ng", 9), ("zlib", 8)),
    (("zlib-ng", 9), ("zlib", 9)),
)
# A forced backend with no choice at a level uses its densest level: isal's 3 (ISA-L has 0..3),
# whose output is up to 8% larger than zlib's at level 2 and up to 38% larger at level 9.
_DENSEST = {"isal": 3}
_BROTLI_QUALITY = (1, 2, 3, 4, 4, 5, 6, 7, 9)  # 10 and 11 run at ~1 MB/s: never on the fly
_ZSTD_LEVELS = (1, 1, 2, 2, 3, 3, 5, 9, 12)  # 3 is zstd's own default
_ZSTD_MAX_WINDOW_LOG = 23  # RFC 9659: the "zstd" content coding limits the window to 8 MB


class Compressor(Protocol):
    """One response's compression stream."""

    def compress(self, data: bytes) -> bytes:
        """Feed data; return whatever output is ready (often b"")."""

    def flush(self) -> bytes:
        """Return everything fed so far in decodable form (deflate's Z_SYNC_FLUSH)."""

    def finish(self) -> bytes:
        """End the stream (gzip trailer, last brotli/zstd block); the stream is done after."""


@dataclass(frozen=True, slots=True)
class Codec:
    """A content coding at one level: a name for Content-Encoding and two ways to compress."""

    name: str
    backend: str
    level: int
    compressor: Callable[[], Compressor]
    _one_shot: Callable[[bytes], bytes]

    def compress_all(self, chunks: Sequence[bytes]) -> bytes:
        """Compress a whole body held in memory (one call when it is one chunk)."""
        if len(chunks) == 1:
            return self._one_shot(chunks[0])
        stream = self.compressor()
        parts = [stream.compress(chunk) for chunk in chunks]
        parts.append(stream.finish())
        return b"".join(parts)


class _FlushStream:
    """A zlib-style compressobj (deflate, zstd): ``flush(mode)`` to sync, ``flush()`` to end."""

    __slots__ = ("_obj", "_sync", "compress")

    def __init__(self, obj: Any, sync: int) -> None:
        self._obj = obj
        self._sync = sync  # deflate's Z_SYNC_FLUSH, zstd's COMPRESSOBJ_FLUSH_BLOCK
        self.compress: Callable[[bytes], bytes] = obj.compress

    def flush(self) -> bytes:
        out: bytes = self._obj.flush(self._sync)
        return out

    def finish(self) -> bytes:
        out: bytes = self._obj.flush()
        return out


class _Brotli:
    __slots__ = ("_obj", "compress")

    def __init__(self, module: Any, quality: int) -> None:
        self._obj = module.Compressor(quality=quality)
        self.compress: Callable[[bytes], bytes] = self._obj.process

    def flush(self) -> bytes:
        out: bytes = self._obj.flush()
        return out

    def finish(self) -> bytes:
        out: bytes = self._obj.finish()
        return out


def _import(module_name: str) -> ModuleType | None:
    try:
        return importlib.import_module(module_name)
    except ImportError:
        return None


def available() -> list[str]:
    """The gzip backends and extra codings ("br", "zstd") that are installed, best first."""
    names = [name for name, module in GZIP_BACKENDS.items() if _import(module) is not None]
    return names + [name for name, module in _EXTRA_MODULES.items() if _import(module) is not None]


def _missing(what: str) -> ValueError:
    package = _INSTALL[what]
    return ValueError(
        f"GzipMiddleware: {what!r} needs the {package!r} package: pip install {package}"
    )


def _first_installed(choices: tuple[tuple[str, int], ...]) -> tuple[str, int, Any]:
    for name, lvl in choices:
        module = _import(GZIP_BACKENDS[name])
        if module is not None:
            return name, lvl, module
    raise _missing(choices[-1][0])


def _gzip(level: int, backend: str | None) -> Codec:
    if backend is not None and (type(backend) is not str or backend not in GZIP_BACKENDS):
        known = ", ".join(GZIP_BACKENDS)
        raise ValueError(
            f"GzipMiddleware: gzip_backend must be one of {known} or None, got {backend!r}"
        )
    choices = _GZIP_CHOICES[level - 1]
    if backend is not None:
        choices = tuple(c for c in choices if c[0] == backend) or ((backend, _DENSEST[backend]),)
    name, lvl, module = _first_installed(choices)

    def one_shot(data: bytes) -> bytes:
        out: bytes = module.compress(data, lvl, 31)
        return out

    def stream() -> Compressor:
        # wbits 31 = 16 + 15: a gzip container (RFC 1952) around a 32 KiB-window deflate stream.
        return _FlushStream(module.compressobj(lvl, module.DEFLATED, 31), module.Z_SYNC_FLUSH)

    return Codec("gzip", name, lvl, stream, one_shot)


def _brotli(level: int) -> Codec:
    module: Any = _import("brotli")
    if module is None:
        raise _missing("br")
    quality = _BROTLI_QUALITY[level - 1]

    def one_shot(data: bytes) -> bytes:
        out: bytes = module.compress(data, quality=quality)
        return out

    return Codec("br", "brotli", quality, lambda: _Brotli(module, quality), one_shot)


def _zstd(level: int) -> Codec:
    module: Any = _import("zstandard")
    if module is None:
        raise _missing("zstd")
    lvl = _ZSTD_LEVELS[level - 1]
    params = module.ZstdCompressionParameters.from_level(lvl)
    if params.window_log > _ZSTD_MAX_WINDOW_LOG:
        params = module.ZstdCompressionParameters.from_level(lvl, window_log=_ZSTD_MAX_WINDOW_LOG)

    def new() -> Any:
        # A ZstdCompressor owns one context, shared by its compressobj()s and not thread-safe:
        # one per response, so concurrent or interleaved responses never share it.
        return module.ZstdCompressor(compression_params=params)

    def one_shot(data: bytes) -> bytes:
        out: bytes = new().compress(data)
        return out

    def stream() -> Compressor:
        return _FlushStream(new().compressobj(), module.COMPRESSOBJ_FLUSH_BLOCK)

    return Codec("zstd", "zstandard", lvl, stream, one_shot)


def make_codec(name: str, level: int, gzip_backend: str | None = None) -> Codec:
    """The codec for a content coding name ("gzip", "br", "zstd") at a zlib-style level 1..9.

    Raises ValueError for an unknown name or level, or when the package it needs is missing.
    """
    if type(level) is not int or not 1 <= level <= 9:
        raise ValueError(f"GzipMiddleware: level must be an int from 1 to 9, got {level!r}")
    if name == "gzip":
        return _gzip(level, gzip_backend)
    if name == "br":
        return _brotli(level)
    if name == "zstd":
        return _zstd(level)
    raise ValueError(f"GzipMiddleware: unknown encoding {name!r} (known: gzip, br, zstd)")
