"""StaticFiles' lookup step: from PATH_INFO to a file under a root, safely, and cached.

Private to :mod:`wsgikit.middleware.static`. ``Files.find(path_info)`` answers a :class:`Found`
(the entry and whether the URL carried its current content hash), a redirect (a directory
asked without its slash, when an index file is set) or None (not ours: the app answers).

Nothing is scanned at startup (whitenoise#263: 45 s for 4,000 files): a file is looked up with
one ``os.stat`` when first asked for, and its entry is kept, then checked against the disk again
at most every ``recheck`` seconds. PATH_INFO is already percent-decoded by the server (PEP 3333),
so it is never decoded again (decoding twice is how ``%252e%252e`` gets through). A path is
refused before touching the disk when any segment is ``.``, ``..``, empty, or (unless allowed) a
dotfile, or when it holds NUL, a backslash or a colon (Windows separators, drive letters and
stream names); and the file's real path must lie under its root unless ``follow_symlinks``::

    files = Files([("/static/", ("/srv/static",))], options)
    found = files.find("/static/app.3f2a9c1b0d4e.css")  # Found(entry, immutable=True)
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from wsgikit.middleware.static._entry import (
    HASH_LENGTH,
    SUFFIXES,
    Entry,
    Signature,
    build_entry,
    content_type,
    sibling,
)

__all__ = ["Files", "Found", "Options", "hashed_name"]

_HASHED = re.compile(rf"(.+)\.([0-9a-f]{{{HASH_LENGTH}}})((?:\.[^./]+)?)")
_MAX_ENTRIES = 1 << 16  # keys are existing files only, but bound the table all the same
SMALL_FILE = 64 << 10  # files up to this size are kept in memory once read
log = logging.getLogger("wsgikit.static")


@dataclass(frozen=True, slots=True)
class Options:
    """The lookup options of a StaticFiles (validated by it)."""

    index: str | None
    follow_symlinks: bool
    allow_dotfiles: bool
    encodings: tuple[str, ...]
    content_types: dict[str, str]
    memory_cache: int
    recheck: float


@dataclass(frozen=True, slots=True)
class Found:
    """A file to serve; ``immutable`` when the URL carried the file's current content hash."""

    entry: Entry
    immutable: bool
    cacheable: bool = True  # False for a stale hash: those URLs are client-chosen


@dataclass(frozen=True, slots=True)
class _Mount:
    prefix: str
    roots: tuple[str, ...]  # real paths, searched in order


def hashed_name(name: str, digest: str) -> str:
    """``app.css`` -> ``app.<digest>.css`` (``LICENSE`` -> ``LICENSE.<digest>``)."""
    stem, ext = os.path.splitext(name)
    return f"{stem}.{digest}{ext}" if stem else f"{name}.{digest}"


class Files:
    """The mounted directories, and the entries found in them so far."""

    def __init__(self, mounts: list[tuple[str, tuple[str, ...]]], options: Options) -> None:
        # Longest prefix first: /static/admin/ wins over /static/ (as Dispatcher's mounts).
        ordered = sorted(mounts, key=lambda mount: len(mount[0]), reverse=True)
        self.mounts = [_Mount(prefix, roots) for prefix, roots in ordered]
        self.options = options
        self._cache: dict[str, Found] = {}
        self._lock = threading.Lock()
        self._memory_left = options.memory_cache
        self._digests: dict[str, tuple[Signature, str]] = {}

    def find(self, path: str) -> Found | str | None:
        """The file for a PATH_INFO, a redirect target path (str), or None (not a file here)."""
        found = self._cache.get(path)
        if found is not None:
            if time.monotonic() - found.entry.checked < self.options.recheck:
                return found
            return self._recheck(path, found)
        for mount in self.mounts:
            if path.startswith(mount.prefix):
                return self._lookup(path, mount)
        return None

    def forget(self, path: str) -> None:
        """Drop a cached entry that no longer matches the disk (it is looked up again)."""
        found = self._cache.pop(path, None)
        if found is not None:
            self._release(found.entry)

    def keep_body(self, entry: Entry, coding: str | None, body: bytes) -> None:
        """Keep a small file's content in memory while the memory budget allows."""
        variant = entry.coded[coding] if coding else entry.identity
        with self._lock:
            if variant.body is None and len(body) <= self._memory_left:
                self._memory_left -= len(body)
                variant.body = body

    def _release(self, entry: Entry) -> None:
        with self._lock:
            for variant in (entry.identity, *entry.coded.values()):
                if variant.body is not None:
                    self._memory_left += len(variant.body)
                    variant.body = None

    def _recheck(self, path: str, old: Found) -> Found | str | None:
        mount = next(m for m in self.mounts if path.startswith(m.prefix))
        fresh = self._lookup(path, mount, cache=False)
        if isinstance(fresh, Found) and fresh.entry.same_files(old.entry):
            old.entry.checked = fresh.entry.checked
            return old
        self.forget(path)
        if isinstance(fresh, Found) and fresh.cacheable:
            self._remember(path, fresh)
        return fresh

    def _remember(self, path: str, found: Found) -> None:
        if len(self._cache) < _MAX_ENTRIES:
            self._cache[path] = found

    def _lookup(self, path: str, mount: _Mount, *, cache: bool = True) -> Found | str | None:
        segments = self._segments(path[len(mount.prefix) :])
        if segments is None:
            return None
        for root in mount.roots:
            found = self._locate(root, segments, path)
            if found is not None:
                if cache and isinstance(found, Found) and found.cacheable:
                    self._remember(path, found)
                return found
        return None

    def _segments(self, rel: str) -> list[str] | None:
        """The path segments under the prefix, or None when the path is refused."""
        try:
            text = os.fsdecode(rel.encode("latin-1"))  # PEP 3333: bytes decoded as latin-1
        except UnicodeError:
            _refused(rel, "not latin-1")
            return None
        if "\x00" in text or "\\" in text or ":" in text:
            _refused(rel, "NUL, backslash or colon")
            return None
        segments = text.split("/")
        for at, segment in enumerate(segments):
            if not segment:
                if at != len(segments) - 1:
                    _refused(rel, "an empty segment")  # "//": an absolute path
                    return None
            elif segment in (".", ".."):
                _refused(rel, "a dot segment")
                return None
            elif segment[0] == "." and not self.options.allow_dotfiles:
                return None  # hidden: as if it did not exist
        return segments

    def _locate(self, root: str, segments: list[str], path: str) -> Found | str | None:
        index = self.options.index
        name = segments[-1]
        if not name:  # a directory, asked with its slash
            if index is None:
                return None
            segments, name = [*segments[:-1], index], index
        full = os.path.join(root, *segments)
        st = _stat(full)
        if st is None:
            return self._hashed(root, segments, path)
        if stat.S_ISDIR(st.st_mode):
            # RFC 9110 §15.4.2: the directory's index lives under its slash; relative links in
            # it resolve against that URL.
            return quote(path.encode("latin-1")) + "/" if index is not None else None
        if not stat.S_ISREG(st.st_mode) or not self._inside(root, full):
            return None  # a device or FIFO would block a read; a symlink out of the root
        return Found(self._entry(root, full, st, name), immutable=False)

    def _hashed(self, root: str, segments: list[str], path: str) -> Found | None:
        """``app.<hash>.css``: the file ``app.css``, immutable when the hash is current."""
        match = _HASHED.fullmatch(segments[-1])
        if match is None:
            return None
        name = match.group(1) + match.group(3)
        if name in (".", "..") or (name[0] == "." and not self.options.allow_dotfiles):
            return None  # "...<hash>" is "..": the checks of _segments hold here too
        full = os.path.join(root, *segments[:-1], name)
        st = _stat(full)
        if st is None or not stat.S_ISREG(st.st_mode) or not self._inside(root, full):
            return None
        entry = self._entry(root, full, st, name)
        # An old hash (a page rendered before a deploy) still gets the file, without the
        # immutable promise, and is not cached under its URL.
        current = self.digest(entry) == match.group(2)
        return Found(entry, immutable=current, cacheable=current)

    def digest(self, entry: Entry) -> str:
        """The entry's content hash, read from the file once per version of it."""
        if entry.digest is None:
            known = self._digests.get(entry.path)
            if known is not None and known[0] == entry.identity.signature:
                entry.digest = known[1]
            elif len(self._digests) < _MAX_ENTRIES:
                self._digests[entry.path] = (entry.identity.signature, entry.content_hash())
        return entry.content_hash()

    def _inside(self, root: str, full: str) -> bool:
        if self.options.follow_symlinks:
            return True
        return os.path.realpath(full).startswith(root + os.sep)

    def _entry(self, root: str, full: str, st: os.stat_result, name: str) -> Entry:
        siblings = {}
        for coding in self.options.encodings:
            sst = sibling(full, coding, st)
            if sst is not None and self._inside(root, full + SUFFIXES[coding]):
                siblings[coding] = sst
        media = content_type(name, self.options.content_types)
        return build_entry(full, st, siblings, media, time.monotonic())


def _refused(rel: str, why: str) -> None:
    """A path no file can have: one log line (the app answers it, as any other miss)."""
    log.info("StaticFiles: refused %r (%s)", rel[:200], why)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):  # missing, not a directory, name too long, ...
        return None
