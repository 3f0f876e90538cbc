"""StaticFiles' description step: what is known about one file and its precompressed siblings.

Private to :mod:`wsgikit.middleware.static`. An :class:`Entry` is built from ``os.stat`` of a
file found under a root (never from a directory scan, so startup does no per-file work) and
holds one :class:`Variant` per representation: the file itself and each ``.br``/``.zst``/``.gz``
sibling at least as new as it. Each variant carries its strong ETag (size and mtime, with the
coding: RFC 9110 §8.8.3, each coding is another representation) and its response headers,
built once::

    entry = build_entry("/srv/static/app.css", os.stat(path), "app.css", ("br", "gzip"), {})
    entry.identity.headers(immutable=False)  # [("Content-Type", "text/css; charset=utf-8"), ...]
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate

__all__ = [
    "HASH_LENGTH",
    "IMMUTABLE",
    "SUFFIXES",
    "Entry",
    "Signature",
    "Variant",
    "build_entry",
    "content_type",
    "sibling",
    "signature",
]

#: The file-name suffix of each precompressed sibling, by content coding (RFC 9110 §8.4.1).
SUFFIXES: dict[str, str] = {"br": ".br", "zstd": ".zst", "gzip": ".gz"}
IMMUTABLE = "public, max-age=31536000, immutable"  # RFC 8246: a hashed URL never changes
HASH_LENGTH = 12  # hex digits of the content hash in a static_url (as Django's manifest storage)

# Types the platform's mime.types may lack or spell differently: the same answer on every host.
_TYPES = {
    ".js": "text/javascript",  # RFC 9239
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".webmanifest": "application/manifest+json",
    ".gz": "application/gzip",
    ".zst": "application/zstd",  # RFC 8878
    ".br": "application/octet-stream",
}
_CHARSET_TYPES = frozenset({"text/javascript", "application/javascript", "image/svg+xml"})

Signature = tuple[int, int, int]


def signature(st: os.stat_result) -> Signature:
    """What says a file is still the one described: inode, size, mtime (ns)."""
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def content_type(name: str, extra: Mapping[str, str]) -> str:
    """The Content-Type for a file name: ``extra`` (by suffix), ours, then mimetypes.

    Text gets ``charset=utf-8``: a browser must not guess it (it is what static text is written
    in today, and what an HTML page's scripts and styles are decoded with).
    """
    suffix = os.path.splitext(name)[1].lower()
    media = extra.get(suffix) or _TYPES.get(suffix) or mimetypes.types_map.get(suffix)
    if media is None:
        media = "application/octet-stream"
    if (media.startswith("text/") or media in _CHARSET_TYPES) and "charset" not in media:
        return f"{media}; charset=utf-8"
    return media


@dataclass(slots=True, eq=False)
class Variant:
    """One representation of a file: the file itself (``coding`` None) or a sibling."""

    path: str
    coding: str | None
    size: int
    mtime: int  # whole seconds: what Last-Modified and the HTTP-date comparisons see
    etag: str
    signature: Signature
    base: list[tuple[str, str]]  # every header of a 200 but Cache-Control
    body: bytes | None = None  # the content, once read, for small files (StaticFiles' cache)
    _headers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def headers(self, cache_control: str) -> list[tuple[str, str]]:
        """The 200 headers with this Cache-Control (a fresh list: the server may extend it)."""
        built = self._headers.get(cache_control)
        if built is None:
            built = self._headers[cache_control] = [*self.base, ("Cache-Control", cache_control)]
        return built[:]


@dataclass(slots=True, eq=False)
class Entry:
    """A file and its precompressed siblings (best first), as last checked."""

    path: str
    media: str
    identity: Variant
    coded: dict[str, Variant]
    checked: float  # time.monotonic() of the last check against the disk
    digest: str | None = None  # content hash for static_url, computed when first asked

    def same_files(self, other: Entry) -> bool:
        """Whether ``other`` describes the very same files (nothing changed on disk)."""
        mine = {c: v.signature for c, v in self.coded.items()}
        theirs = {c: v.signature for c, v in other.coded.items()}
        return self.identity.signature == other.identity.signature and mine == theirs

    def content_hash(self) -> str:
        """The hex content hash (12 digits) of the file, read once per version of the file."""
        if self.digest is None:
            digest = hashlib.sha256()
            with open(self.path, "rb") as file:
                while block := file.read(1 << 16):
                    digest.update(block)
            self.digest = digest.hexdigest()[:HASH_LENGTH]
        return self.digest


def _variant(path: str, st: os.stat_result, media: str, coding: str | None, vary: bool) -> Variant:
    tag = f"{st.st_size:x}-{st.st_mtime_ns:x}" + (f"-{coding}" if coding else "")
    etag = f'"{tag}"'
    mtime = int(st.st_mtime)
    base = [
        ("Content-Type", media),
        ("Content-Length", str(st.st_size)),
        ("ETag", etag),
        ("Last-Modified", formatdate(mtime, usegmt=True)),
        ("Accept-Ranges", "bytes"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    if vary:  # RFC 9110 §12.5.5: the answer depends on Accept-Encoding
        base.append(("Vary", "Accept-Encoding"))
    if coding:
        base.append(("Content-Encoding", coding))
    return Variant(path, coding, st.st_size, mtime, etag, signature(st), base)


def sibling(path: str, coding: str, original: os.stat_result) -> os.stat_result | None:
    """The stat of ``path``'s precompressed sibling when it is a file at least as new."""
    try:
        st = os.stat(path + SUFFIXES[coding])
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_mtime_ns < original.st_mtime_ns:
        return None  # stale: the file changed after it was compressed
    return st


def build_entry(
    path: str,
    st: os.stat_result,
    siblings: Mapping[str, os.stat_result],
    media: str,
    now: float,
) -> Entry:
    """An entry for the file at ``path`` (``st`` its stat) and its ``siblings`` by coding."""
    vary = bool(siblings)
    identity = _variant(path, st, media, None, vary)
    coded = {
        coding: _variant(path + SUFFIXES[coding], sst, media, coding, vary)
        for coding, sst in siblings.items()
    }
    return Entry(path, media, identity, coded, now)
