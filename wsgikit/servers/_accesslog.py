"""Access log lines in Apache's combined format, plus the request duration, via ``logging``.

Every server on the loop logs through the ``wsgikit.access`` logger; nothing is formatted when that
logger is not enabled for INFO::

    log_access(environ, "200 OK", 1234, duration=0.0021)
    # 127.0.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1234 "-" "curl/8" 2100
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from wsgikit.gateway import Outcome

__all__ = ["access_log", "clock", "format_access", "log_access", "log_outcome"]

access_log = logging.getLogger("wsgikit.access")


def _quote(value: str) -> str:
    # Apache escapes quotes, backslashes and control characters so a line cannot be forged.
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value
    return value.encode("unicode_escape").decode("ascii").replace('"', '\\"')


def format_access(
    environ: Mapping[str, Any], status: str, size: int, duration: float, now: float | None = None
) -> str:
    """One combined-format line; ``duration`` in seconds is logged as microseconds (Apache %D)."""
    when = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(now))
    target = environ.get("REQUEST_URI") or (
        environ.get("SCRIPT_NAME", "")
        + environ.get("PATH_INFO", "")
        + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
    )
    request = f"{environ.get('REQUEST_METHOD', '-')} {target} {environ.get('SERVER_PROTOCOL', '-')}"
    return '%s - %s [%s] "%s" %s %s "%s" "%s" %d' % (
        environ.get("REMOTE_ADDR") or "-",
        _quote(environ.get("REMOTE_USER") or "-"),
        when,
        _quote(request),
        status[:3] or "-",
        size if size else "-",
        _quote(environ.get("HTTP_REFERER", "-")),
        _quote(environ.get("HTTP_USER_AGENT", "-")),
        int(duration * 1_000_000),
    )


def log_access(environ: Mapping[str, Any], status: str, size: int, duration: float) -> None:
    if access_log.isEnabledFor(logging.INFO):
        access_log.info(format_access(environ, status, size, duration))


def clock() -> float:
    """When a request's app was called, for :func:`log_outcome`: 0.0 while the log is off."""
    return time.perf_counter() if access_log.isEnabledFor(logging.INFO) else 0.0


def log_outcome(outcome: Outcome, started: float) -> None:
    """The access log line of a finished request whose app was called at ``started``."""
    if started:
        elapsed = time.perf_counter() - started
        log_access(outcome.environ, outcome.status, outcome.body_bytes, elapsed)
