"""``wsgikit serve|fcgi|scgi --workers``: the command line's settings made into a manager.

:func:`run_manager` is what :mod:`wsgikit.cli` calls when the manager is wanted; each HUP
resolves the settings anew (config file, environment) and makes the next :class:`Plan`::

    return run_manager("serve", launch, http_builder, ["127.0.0.1:8000"])
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from wsgikit.config import Config, ConfigError
from wsgikit.loader import LoadError
from wsgikit.servers._listen import BindError
from wsgikit.servers._manager_settings import hup_unapplied, manager_options, plan_options
from wsgikit.servers._manager_worker import Plan
from wsgikit.servers._watch_settings import plan_watch_options
from wsgikit.servers.workers import Manager

if TYPE_CHECKING:
    from wsgikit.servers._loop import EventServer

__all__ = ["run_manager"]

error_log = logging.getLogger("wsgikit.error")


def run_manager(name: str, launch: Any, builder: Callable[[Config], Any], binds: list[str]) -> int:
    """The command line's manager: ``launch`` is :class:`wsgikit.cli.Launch` (settings, reread),
    ``builder(settings)`` gives ``(app, binds) -> server``. Each HUP rereads the settings."""
    if not hasattr(os, "fork"):
        print(f"wsgikit {name}: error: --workers needs fork() (POSIX only)", file=sys.stderr)
        return 2
    generations: list[Config] = []

    def plan() -> Plan:  # at start: the settings given; on HUP: resolved anew
        generations[:] = [launch.reread() if generations else launch.settings]
        unapplied = hup_unapplied(launch.settings, generations[0])
        if unapplied:
            error_log.warning(unapplied)
        return _plan(generations[0], builder, launch.load)

    try:
        manager = Manager(
            name,
            plan,
            binds or ["fd://0"],  # fcgi: the socket the web server passed as fd 0
            scheme=_scheme(name, launch.settings),
            plain_http=len(launch.settings.get("redirect_https") or ()),
            **manager_options(launch.settings),
        )
    except BindError as exc:
        print(f"wsgikit {name}: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        if isinstance(exc, LoadError | ConfigError):
            raise
        print(f"wsgikit {name}: error: {exc}", file=sys.stderr)
        return 2
    print(f"Serving {launch.settings['app']} on {', '.join(manager.where())}", flush=True)
    status = manager.run()
    print("Stopped.", flush=True)
    return status


_SCHEMES = {"serve": "http"}


def _scheme(name: str, settings: Config) -> str:
    """What the banner names: https for ``serve`` with a certificate."""
    if name == "serve" and settings.get("certfile"):
        return "https"
    return _SCHEMES.get(name, name)


def _plan(settings: Config, builder: Callable[[Config], Any], load: Callable[[], Any]) -> Plan:
    """``load`` imports the app (anew in each worker without --preload: fresh code on HUP);
    PasteDeploy's runner passes one that returns the app pserve loaded."""
    build = builder(settings)
    preloaded = load() if settings["preload"] else None

    def start(binds: Sequence[str], wrap: Callable[[Any], Any]) -> EventServer:
        app = preloaded if preloaded is not None else load()
        server: EventServer = build(wrap(app), binds)
        return server

    return Plan(start=start, **plan_options(settings), **plan_watch_options(settings))
