"""The command-line settings of the worker-process manager (:mod:`wsgikit.servers.workers`).

``serve``, ``fcgi`` and ``scgi`` splice :func:`worker_settings` into their settings; the manager
runs when ``--workers`` is given (even 1) or any setting that needs it is set, else the server
runs in this process as before. :func:`manager_options` maps the resolved settings to the
:class:`~wsgikit.servers.workers.Manager` keywords::

    SERVE = (..., *worker_settings())
    if wants_manager(settings):
        Manager(..., **manager_options(settings))
"""

from __future__ import annotations

import os
import re
from typing import Any

from wsgikit.config import Config, Setting
from wsgikit.servers._manager_exec import upgraded
from wsgikit.servers._systemd import listen_fds

__all__ = [
    "inherited_binds",
    "manager_options",
    "multiprocess",
    "parse_workers",
    "plan_options",
    "wants_manager",
    "worker_settings",
]


def parse_workers(text: str) -> int:
    """``auto`` (the CPUs this process may run on) or a count from 1 to 1024."""
    if text.strip().lower() == "auto":
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1024:
        raise ValueError("expected a number of workers from 1 to 1024, or auto")
    return int(text)


def _umask(text: str) -> None:
    if not re.fullmatch(r"0?[0-7]{3}", text):
        raise ValueError("expected an octal umask such as 027")


def worker_settings(max_requests: str = "max_requests") -> tuple[Setting, ...]:
    """The manager's settings; ``fcgi`` already has a ``--max-requests`` (FCGI_MAX_REQS), so it
    takes the recycling count as ``--max-worker-requests``."""
    return (
        Setting(
            "workers",
            str,
            "1",
            "worker processes, or auto (one per CPU); given at all, even 1, a manager process "
            "binds the sockets and runs the workers (signals: TERM/INT drain, QUIT stop now, "
            "HUP reload, TTIN/TTOU one more/less, USR1 reopen logs, USR2 re-exec)",
            validate=parse_workers,
            metavar="N",
        ),
        Setting("preload", bool, False, "load the app in the manager, before forking workers"),
        Setting("pid", str, None, "write the manager's pid to FILE", metavar="FILE"),
        Setting("user", str, None, "workers run as this user (name or uid)", metavar="USER"),
        Setting("group", str, None, "workers run as this group (name or gid)", metavar="GROUP"),
        Setting("umask", str, None, "the manager's and workers' umask (octal)", validate=_umask),
        Setting(
            "reuse_port",
            bool,
            False,
            "each worker binds its own SO_REUSEPORT socket (TCP binds); a worker that leaves "
            "(reload, recycling) resets the connections queued on its socket unless Linux has "
            "net.ipv4.tcp_migrate_req = 1 (5.14+); the default shared sockets lose none",
        ),
        Setting(
            max_requests,
            int,
            0,
            "a worker is replaced after this many requests (0: never)",
            min=0,
            metavar="N",
        ),
        Setting(
            "max_requests_jitter",
            int,
            0,
            "add 0 to N requests at random to each worker's limit (workers do not all go at once)",
            min=0,
            metavar="N",
        ),
        Setting(
            "max_worker_memory",
            int,
            0,
            "replace a worker past this RSS (MB; 0: off)",
            min=0,
            metavar="MB",
        ),
        Setting(
            "max_worker_age",
            float,
            0.0,
            "replace a worker after S seconds (0: off)",
            min=0,
            metavar="S",
        ),
    )


_MANAGER_ONLY = (
    "preload",
    "pid",
    "user",
    "group",
    "umask",
    "reuse_port",
    "max_requests_jitter",
    "max_worker_memory",
    "max_worker_age",
)


def _max_requests(settings: Config) -> int:
    if "max_worker_requests" in settings:
        return int(settings["max_worker_requests"])
    return int(settings["max_requests"])


def wants_manager(settings: Config) -> bool:
    """True when ``--workers`` was given or a setting only the manager implements is set."""
    if "workers" not in settings:
        return False
    if settings.source("workers") != "default" or _max_requests(settings):
        return True
    return any(settings[name] for name in _MANAGER_ONLY)


def multiprocess(settings: Config) -> bool:
    """``wsgi.multiprocess`` (PEP 3333): True when more than one worker serves."""
    return "workers" in settings and parse_workers(settings["workers"]) > 1


def inherited_binds() -> tuple[list[str], bool]:
    """``fd://N`` for systemd's sockets (or a USR2 re-exec's), and whether they are the only
    ones to serve (after a re-exec: the --bind addresses are those very sockets)."""
    return [f"fd://{fd}" for fd in listen_fds()], upgraded()


def manager_options(settings: Config) -> dict[str, Any]:
    """The :class:`~wsgikit.servers.workers.Manager` keywords fixed at start (not on HUP: see
    :func:`hup_unapplied`)."""
    umask, mode = settings["umask"], settings["unix_mode"]
    return {
        "pid_file": settings["pid"],
        "user": settings["user"],
        "group": settings["group"],
        "umask": int(umask, 8) if umask else None,
        "reuse_port": settings["reuse_port"],
        "backlog": settings["backlog"],
        "unix_mode": int(mode, 8) if mode else None,
    }


# What a HUP cannot change: the sockets stay bound (a re-exec inherits them too), and the
# manager's own pid file, user and umask were set as it started (a USR2 re-exec reads them anew).
_SOCKETS = ("bind", "fd", "redirect_https", "backlog", "reuse_port", "unix_mode")
_PROCESS = ("pid", "user", "group", "umask")


def hup_unapplied(running: Config, reread: Config) -> str | None:
    """The warning for settings a HUP re-read with new values it cannot apply, or None."""
    changed = [
        name
        for name in (*_SOCKETS, *_PROCESS)
        if name in running and name in reread and running[name] != reread[name]
    ]
    if not changed:
        return None
    flags = ", ".join("--" + name.replace("_", "-") for name in changed)
    needs = "a restart" if set(changed) & set(_SOCKETS) else "USR2 (re-exec) or a restart"
    return f"manager: HUP cannot change {flags}: that needs {needs}; serving on as before"


def plan_options(settings: Config) -> dict[str, Any]:
    """The :class:`~wsgikit.servers.workers.Plan` fields, made anew on every HUP."""
    return {
        "workers": parse_workers(settings["workers"]),
        "max_requests": _max_requests(settings),
        "max_requests_jitter": settings["max_requests_jitter"],
        "max_memory": settings["max_worker_memory"] << 20,
        "max_age": settings["max_worker_age"],
        "shutdown_timeout": settings["timeout_shutdown"],
    }
