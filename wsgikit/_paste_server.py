"""The PasteDeploy server runner: ``egg:wsgikit#main`` serves an ini file's app with wsgikit.

Pyramid's ``pserve`` (and any PasteDeploy loader) then runs the app on wsgikit's HTTP server,
as ``wsgikit serve`` would, until SIGINT or SIGTERM. The options are ``wsgikit serve``'s
settings under their own names (``threads``, ``timeout_idle``, ``access_log``, ...), plus
``host``/``port`` and ``listen`` (waitress's names for ``bind``) and ``workers``::

    [server:main]
    use = egg:wsgikit#main
    bind = 127.0.0.1:6543 unix:/run/app.sock
    threads = 16
    access_log = true

An unknown option or a bad value stops the server with one error naming the option. Logging
is pserve's: it configured it from the ini's ``[loggers]`` (or with ``basicConfig``), so wsgikit
adds no handler of its own; ``log_level`` applies unless the ini sets ``wsgikit``'s level, and
``access_log = true`` sends the access lines to the ini's handlers.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping
from typing import Any

from wsgikit.cli import COMMANDS, LOADING, Launch
from wsgikit.config import Config, ConfigError, Setting, resolve
from wsgikit.types import WSGIApplication

__all__ = ["server_runner", "server_settings"]

_NAME = "egg:wsgikit#main"
_ALIASES = {"listen": "bind"}  # waitress's name, in Pyramid's stock development.ini
_EXTRA = ("host", "port", *_ALIASES)


def server_runner(app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str) -> None:
    """``paste.server_runner`` for ``egg:wsgikit#main``: serve ``app`` until SIGINT/SIGTERM."""
    settings = server_settings(local_conf, source=global_conf.get("__file__", _NAME))
    # pserve loaded the app: with workers it is preloaded, and HUP re-reads nothing (the ini
    # file is pserve's); restart pserve for new code.
    # pserve configured logging (the ini's [loggers], or basicConfig): its handlers print our
    # lines; one of our own beside them would print each line twice
    host_logging = bool(logging.getLogger().handlers)
    launch = Launch(settings, lambda: app, lambda: settings, host_logging=host_logging)
    code = COMMANDS["serve"].run(launch)
    if code:
        raise SystemExit(code)  # the reason is on stderr already (a bind that failed)


def _serve_settings() -> dict[str, Setting]:
    return {s.name: s for s in COMMANDS["serve"].settings if s not in LOADING}


def server_settings(options: Mapping[str, str], *, source: str = _NAME) -> Config:
    """The ``wsgikit serve`` settings of an ini section's options; ConfigError names the key."""
    known = _serve_settings()
    values: dict[str, Any] = {}
    for key, text in options.items():
        name = _ALIASES.get(key, key)
        if name in known:
            setting = known[name]
            values[name] = re.split(r"[\s,]+", text.strip()) if setting.type is list else text
        elif key not in _EXTRA:
            close = difflib.get_close_matches(key, [*known, *_EXTRA], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{_NAME}: unknown option {key!r}{hint}")
    _host_and_port(options, values)
    values["app"] = source  # the "Serving ... on ..." line names the ini file
    try:
        return resolve([*LOADING, *known.values()], section="serve", cli=values, environ={})
    except ConfigError as exc:
        raise ConfigError(f"{_NAME}: {_named(str(exc), known.values())}") from None


def _host_and_port(options: Mapping[str, str], values: dict[str, Any]) -> None:
    """``host``/``port`` (waitress, paste.httpserver) make one bind; not with ``bind`` too."""
    if "host" not in options and "port" not in options:
        return
    if "bind" in values:
        raise ConfigError(f"{_NAME}: give either bind (or listen) or host and port, not both")
    host = options.get("host", "127.0.0.1").strip()
    port = options.get("port", "8000").strip()
    values["bind"] = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]


def _named(message: str, settings: Any) -> str:
    """config's messages name the flag (``--threads='x': ...``); ini users know the key."""
    for setting in settings:
        prefix = setting.flag + "="
        if message.startswith(prefix):
            return f"{setting.name} = {message[len(prefix) :]}"
    return message
