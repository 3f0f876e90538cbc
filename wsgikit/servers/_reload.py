"""``--reload`` (development): a worker watches its app's source files and asks for a reload.

A watcher thread in each worker (:func:`start_reloader`) watches the files of the modules this
process loaded (``sys.modules``) that belong to the project, not to the standard library,
site-packages or wsgikit itself, plus the ``--reload-extra`` files (globs re-expanded as they
go). On a change it sends ``reload PATH`` to the manager, which reloads as on HUP: new workers
import the app anew, and a new app that does not load (a syntax error) is logged and undone,
the running workers serving on until the next change (:mod:`wsgikit.servers.workers`).

Linux: inotify through ctypes on libc (``inotify_init1``, ``inotify_add_watch`` on each
directory: editors that save by rename are seen too); elsewhere, or with
``WSGIKIT_RELOAD_POLL=1``, the files' mtimes are compared once a second. No dependency.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import glob
import logging
import os
import select
import struct
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Sequence

__all__ = [
    "POLL_ENV",
    "PollWatcher",
    "ProjectFiles",
    "changed_since",
    "excluded_roots",
    "start_reloader",
]

error_log = logging.getLogger("wsgikit.error")

POLL_ENV = "WSGIKIT_RELOAD_POLL"
INTERVAL = 1.0  # seconds between looks (polling) and between refreshes of the watched set
SETTLE = 0.2  # seconds of quiet after a change: an editor's save is several events
_IN_ATTRIB, _IN_CLOSE_WRITE, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x4, 0x8, 0x80, 0x100, 0x200
_IN_MASK = _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE
_IN_NONBLOCK, _IN_CLOEXEC = 0o4000, 0o2000000
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)


def excluded_roots() -> tuple[str, ...]:
    """Where code that is not the project's lives: Python's prefixes and wsgikit itself."""
    paths = sysconfig.get_paths()
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots |= {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # wsgikit/
    return tuple(os.path.join(os.path.realpath(root), "") for root in roots)


class ProjectFiles:
    """``files()``: the project's loaded module files and the extra files (globs expanded at
    each call); a module's resolved path is kept (asked once a second)."""

    def __init__(self, extra: Sequence[str], excluded: tuple[str, ...]) -> None:
        self.extra = extra
        self.excluded = excluded
        self._paths: dict[str, str | None] = {}  # a module's __file__ -> ours, or None

    def _path(self, name: str) -> str | None:
        if name not in self._paths:
            path = os.path.realpath(name)
            ours = name.endswith(".py") and not path.startswith(self.excluded)
            self._paths[name] = path if ours else None
        return self._paths[name]

    def __call__(self) -> set[str]:
        found = set()
        for module in list(sys.modules.values()):
            name = getattr(module, "__file__", None)
            if isinstance(name, str) and (path := self._path(name)) is not None:
                found.add(path)
        for pattern in self.extra:
            found.update(os.path.realpath(p) for p in glob.glob(pattern, recursive=True))
        return found


def changed_since(paths: set[str], since: float) -> str | None:
    """A file modified after ``since`` (a wall-clock time) and not in the future."""
    now = time.time()
    for path in sorted(paths):
        with contextlib.suppress(OSError):
            if since < os.stat(path).st_mtime <= now:
                return path
    return None


class PollWatcher:
    """Compares the files' (mtime, size) once a second."""

    def __init__(self, files: Callable[[], set[str]]) -> None:
        self.files = files
        self.seen = self._stat(files())

    @staticmethod
    def _stat(paths: set[str]) -> dict[str, tuple[int, int] | None]:
        found: dict[str, tuple[int, int] | None] = {}
        for path in paths:
            try:
                st = os.stat(path)
                found[path] = (st.st_mtime_ns, st.st_size)
            except OSError:
                found[path] = None
        return found

    def settle(self) -> None:
        """After a change: let the save finish, and take it as seen."""
        time.sleep(SETTLE)
        self.seen = self._stat(self.files())

    def wait(self) -> str | None:
        """Sleep a second; a path that changed since the last look, if any."""
        time.sleep(INTERVAL)
        now = self._stat(self.files())
        changed = [p for p, state in now.items() if p in self.seen and self.seen[p] != state]
        self.seen = now
        return changed[0] if changed else None


class InotifyWatcher:
    """Linux inotify on the directories of the watched files."""

    def __init__(self, files: Callable[[], set[str]]) -> None:
        self.libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        self.fd = self.libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.files = files
        self.dirs: dict[int, str] = {}  # watch descriptor -> directory
        self.watched: set[str] = set()
        self._refresh()

    def _refresh(self) -> None:
        self.watched = self.files()
        known = set(self.dirs.values())
        for directory in {os.path.dirname(p) for p in self.watched} - known:
            wd = self.libc.inotify_add_watch(self.fd, os.fsencode(directory), _IN_MASK)
            if wd >= 0:
                self.dirs[wd] = directory

    def settle(self) -> None:
        """After a change: let the save finish, and drop its other events."""
        time.sleep(SETTLE)
        self._read()

    def wait(self) -> str | None:
        """Up to a second for an event on a watched file; its path, if any."""
        ready, _, _ = select.select([self.fd], [], [], INTERVAL)
        changed = None
        if ready:
            changed = self._read()
        self._refresh()  # modules imported since, new matches of the extra globs
        return changed

    def _read(self) -> str | None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return None
        changed, offset = None, 0
        while offset + _EVENT.size <= len(data):
            wd, _, _, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
            offset += _EVENT.size + length
            path = os.path.join(self.dirs.get(wd, ""), os.fsdecode(raw))
            if changed is None and path in self.watched:
                changed = path
        return changed


def _watcher(extra: Sequence[str]) -> PollWatcher | InotifyWatcher:
    files = ProjectFiles(extra, excluded_roots())
    if os.environ.get(POLL_ENV, "") not in ("", "0") or not sys.platform.startswith("linux"):
        return PollWatcher(files)
    try:
        return InotifyWatcher(files)
    except (OSError, AttributeError) as exc:  # no inotify (old libc, a container's limits)
        error_log.info("--reload: inotify unavailable (%s), polling each second", exc)
        return PollWatcher(files)


def start_reloader(extra: Sequence[str], send: Callable[[str], None], since: float) -> None:
    """In a worker that began loading the app at ``since`` (``time.time()``): a daemon thread
    that sends ``reload PATH`` on each change (after it settles); the manager does the rest. A
    file saved while this worker loaded (a second save during a reload) counts as a change."""
    watcher = _watcher(extra)

    def watch() -> None:
        missed = changed_since(watcher.files(), since)
        if missed is not None:
            error_log.info("--reload: %s changed as the app loaded", missed)
            send(f"reload {missed}")
        while True:
            with contextlib.suppress(Exception):  # a file system hiccup must not end the watch
                changed = watcher.wait()
                if changed is not None:
                    watcher.settle()
                    error_log.info("--reload: %s changed", changed)
                    send(f"reload {changed}")

    threading.Thread(target=watch, name="wsgikit-reload", daemon=True).start()
