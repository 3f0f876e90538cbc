"""The one logging setup of the ``wsgikit`` command line (serve, fcgi, scgi, cgi).

Every wsgikit logger (``wsgikit.error``, ``wsgikit.sessions``, any ``wsgikit.*``) goes through
the ``wsgikit`` parent: one stderr handler there, ``--log-level`` set there, each line with its
time, level and logger name. The access log keeps its own line format (Apache combined) and is
on only with ``--access-log``::

    configure_logging("warning", access_log=True)
    # [2026-01-02 03:04:05,678] ERROR wsgikit.sessions: session store unavailable, ...
"""

from __future__ import annotations

import logging

__all__ = ["FORMAT", "configure_logging"]

FORMAT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"
_OURS = "_wsgikit_cli"  # marks the handlers added here, so a second setup replaces them


def _remove_ours(logger: logging.Logger) -> None:
    for handler in [h for h in logger.handlers if getattr(h, _OURS, False)]:
        logger.removeHandler(handler)


def _replace_handler(logger: logging.Logger, formatter: logging.Formatter) -> None:
    _remove_ours(logger)
    handler = logging.StreamHandler()  # sys.stderr as it is now
    handler.setFormatter(formatter)
    setattr(handler, _OURS, True)
    logger.addHandler(handler)


def configure_logging(level: str, *, access_log: bool = False, host: bool = False) -> None:
    """Log every ``wsgikit.*`` logger to stderr at ``level`` ("debug" ... "error"); the access
    log (``wsgikit.access``, INFO, message only) only when ``access_log``.

    ``host``: the process that runs us configured logging already (pserve's ``fileConfig`` of
    the ini's ``[loggers]``, or its ``basicConfig``): a handler of ours would print each line a
    second time beside the host's, so the lines go to the host's handlers only, and a level
    the host set on ``wsgikit`` or ``wsgikit.access`` stays.
    """
    if host:
        _host_levels(level, access_log)
        return
    parent = logging.getLogger("wsgikit")
    _replace_handler(parent, logging.Formatter(FORMAT))
    parent.setLevel(level.upper())
    access = logging.getLogger("wsgikit.access")
    if access_log:
        _replace_handler(access, logging.Formatter("%(message)s"))
        access.setLevel(logging.INFO)
        access.propagate = False  # its own format, not also the error log's
    else:
        access.setLevel(logging.WARNING)


def _host_levels(level: str, access_log: bool) -> None:
    parent = logging.getLogger("wsgikit")
    _remove_ours(parent)
    if parent.level == logging.NOTSET:
        parent.setLevel(level.upper())
    access = logging.getLogger("wsgikit.access")
    _remove_ours(access)
    access.propagate = True  # to the host's handlers, in the host's format
    if access_log:
        access.setLevel(logging.INFO)
    elif access.level == logging.NOTSET:
        access.setLevel(logging.WARNING)
