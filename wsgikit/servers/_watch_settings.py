"""The command-line settings of the watchdog and of ``--reload``, and where each one goes.

``serve``, ``fcgi`` and ``scgi`` splice :func:`watch_settings` into their settings;
:func:`loop_watch_options` gives the event loop's keyword (``request_timeout``),
:func:`plan_watch_options` the :class:`~wsgikit.servers.workers.Plan` fields, and
:func:`check_reload` refuses what ``--reload`` cannot do::

    SERVE = (..., *watch_settings())
    Server(app, binds, **loop_watch_options(settings))
"""

from __future__ import annotations

from typing import Any

from wsgikit.config import Config, ConfigError, Setting

__all__ = ["check_reload", "loop_watch_options", "plan_watch_options", "watch_settings"]


def watch_settings() -> tuple[Setting, ...]:
    return (
        Setting(
            "request_timeout",
            float,
            0.0,
            "log a request the app holds longer than S seconds (one call, or one next() on its "
            "response), once, with its stack; a slow client does not count (0: off)",
            min=0,
            metavar="S",
        ),
        Setting(
            "worker_timeout",
            float,
            30.0,
            "with --workers: a worker without a heartbeat for S seconds (its loop, inline, or "
            "every pool thread held by the app) is logged with what it was doing and replaced "
            "(0: off)",
            min=0,
            metavar="S",
        ),
        Setting(
            "reload",
            bool,
            False,
            "development: restart the workers when a source file of the app's modules (not the "
            "stdlib's or site-packages') or a --reload-extra file changes; new code that does "
            "not load is logged and the running workers keep serving (inotify, else polling "
            "each second; WSGIKIT_RELOAD_POLL=1 forces polling)",
        ),
        Setting(
            "reload_extra",
            list,
            (),
            "with --reload: also watch these files (globs ok: templates/*.html)",
            metavar="PATH",
        ),
    )


def loop_watch_options(settings: Config) -> dict[str, Any]:
    """The :class:`~wsgikit.servers._loop.EventServer` keywords."""
    return {"request_timeout": settings["request_timeout"]}


def plan_watch_options(settings: Config) -> dict[str, Any]:
    """The :class:`~wsgikit.servers.workers.Plan` fields (made anew on every HUP)."""
    return {
        "worker_timeout": settings["worker_timeout"],
        "reload": tuple(settings["reload_extra"]) if settings["reload"] else None,
    }


def check_reload(settings: Config) -> None:
    """``--reload`` reloads by starting new workers that import the app anew: a preloaded app
    lives in the manager, which never imports it again."""
    if settings["reload"] and settings["preload"]:
        raise ConfigError(
            "--reload cannot be used with --preload (the manager would keep the old code)"
        )
