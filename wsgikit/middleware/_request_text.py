"""A request shown as text (log lines, error pages, mails) without leaking secrets or forging logs.

Shared by ErrorMiddleware (its log records, debug page and mails) and ErrorDocuments (its log
records): the log-safe request line, and the rule that masks secrets (cookies, credentials,
tokens) wherever a request or a value is shown::

    log.error("%s failed", request_line(environ))      # GET /login?password=******** HTTP/1.1
    shown = MASK if is_secret(name) else value
"""

from __future__ import annotations

import re

from wsgikit.types import WSGIEnvironment

__all__ = ["MASK", "QUERY_KEYS", "is_secret", "mask_query", "printable", "request_line"]

MASK = "******** (masked)"

# Names whose values are credentials: request headers as CGI variables (HTTP_COOKIE,
# HTTP_AUTHORIZATION, HTTP_X_API_KEY), app settings in the environ, local variables, query
# parameters. Matched case-insensitively anywhere in the name.
_SECRET_WORDS = (
    "AUTHORIZATION",
    "COOKIE",
    "CREDENTIAL",
    "PASSWD",
    "PASSWORD",
    "SECRET",
    "SESSION",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
)
#: Environ keys whose values carry a query string (CGI, and servers' extras).
QUERY_KEYS = frozenset({"QUERY_STRING", "REQUEST_URI", "RAW_URI"})
_QUERY_PAIR = re.compile(r"([^&;=]*)(=?)([^&;]*)")
# Anything that could forge a log line or a terminal sequence is shown escaped (\n, \x1b, ...).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def is_secret(name: str) -> bool:
    """True when a value stored under ``name`` must not be shown (environ key, local, parameter)."""
    upper = name.upper().replace("-", "_")
    return any(word in upper for word in _SECRET_WORDS)


def mask_query(query: str) -> str:
    """``user=ann&password=x`` → ``user=ann&password=********``: secret parameters masked."""
    if not query:
        return query

    def pair(match: re.Match[str]) -> str:
        name, equals, value = match.groups()
        if equals and value and is_secret(name):
            return f"{name}=********"
        return match.group(0)

    return _QUERY_PAIR.sub(pair, query)


def printable(text: str) -> str:
    """``text`` with control and line-separator characters escaped: one line, no terminal codes."""
    return _UNPRINTABLE.sub(lambda m: repr(m.group(0))[1:-1], text)


def request_line(environ: WSGIEnvironment) -> str:
    """``GET /script/path?q=1 HTTP/1.1`` rebuilt from the environ, safe for a one-line log record.

    PATH_INFO is latin-1 "bytes as str" (PEP 3333); control characters are shown escaped so that a
    crafted URL cannot forge log lines, and secret query parameters are masked.
    """
    method = str(environ.get("REQUEST_METHOD", "-"))
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    query = mask_query(str(environ.get("QUERY_STRING", "")))
    target = f"{path}?{query}" if query else path
    protocol = str(environ.get("SERVER_PROTOCOL", "-"))
    return " ".join(printable(part) for part in (method, target or "/", protocol))
