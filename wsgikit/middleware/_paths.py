"""Requests a middleware leaves alone: by path prefix or by a callable, shared by BasicAuth's
open paths and CSRF's exemptions::

    rule = PathRule("BasicAuth", "open_paths", ["/static/", "/health"], None)
    rule.matches(environ)   # True for /static/app.css, /health and /health/db; not /healthz

A prefix matches whole path segments (``/health`` is not a prefix of ``/healthz``), against
SCRIPT_NAME + PATH_INFO, so that it means the same wherever the middleware is mounted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from wsgikit.types import WSGIEnvironment

__all__ = ["PathRule"]


class PathRule:
    """Path prefixes and/or a predicate ``(environ) -> bool``, checked at construction."""

    __slots__ = ("predicate", "prefixes")

    def __init__(
        self,
        owner: str,
        option: str,
        prefixes: Iterable[str],
        predicate: Callable[[WSGIEnvironment], bool] | None,
    ) -> None:
        if isinstance(prefixes, str) or not isinstance(prefixes, Iterable):
            raise TypeError(f"{owner}: {option} must be a list of path prefixes, got {prefixes!r}")
        found = tuple(prefixes)
        for prefix in found:
            if not isinstance(prefix, str) or not prefix.startswith("/"):
                raise ValueError(f"{owner}: {option} items must start with '/', got {prefix!r}")
        if predicate is not None and not callable(predicate):
            raise TypeError(f"{owner}: the predicate must be callable, got {predicate!r}")
        self.prefixes = found
        self.predicate = predicate

    def matches(self, environ: WSGIEnvironment) -> bool:
        if self.prefixes:
            path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
            for prefix in self.prefixes:
                if path.startswith(prefix) and (
                    prefix.endswith("/") or len(path) == len(prefix) or path[len(prefix)] == "/"
                ):
                    return True
        return self.predicate is not None and bool(self.predicate(environ))

    def __repr__(self) -> str:
        return f"PathRule({list(self.prefixes)!r}, {self.predicate!r})"
