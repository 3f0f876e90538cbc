"""PasteDeploy factories for wsgikit, all in one module, and the option converters they share.

Each factory is registered as an entry point in setup.cfg, so an ini file can use it as
``egg:wsgikit#NAME``. Options arrive as strings; the ``as_*`` converters turn them into values
and raise :class:`~wsgikit.config.ConfigError` (a ValueError) naming the filter and the option::

    [pipeline:main]
    pipeline = egg:wsgikit#lint myapp

    level = as_int("gzip", "level", local_conf.get("level", 6), min=1, max=9)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from wsgikit.config import ConfigError, parse_bool, parse_float, parse_int, parse_size
from wsgikit.lint import LintMiddleware
from wsgikit.types import WSGIApplication

__all__ = [
    "as_bool",
    "as_float",
    "as_int",
    "as_list",
    "as_size",
    "check_options",
    "lint_filter_factory",
]

_N = TypeVar("_N", int, float)
_T = TypeVar("_T")


def lint_filter_factory(
    app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``paste.filter_app_factory`` for ``egg:wsgikit#lint``: :class:`~wsgikit.lint.LintMiddleware`.

    Option: ``allow_head_body`` (bool, default false), as in LintMiddleware.
    """
    check_options("lint", local_conf, ("allow_head_body",))
    allow = as_bool("lint", "allow_head_body", local_conf.get("allow_head_body", False))
    return LintMiddleware(app, allow_head_body=allow)


def check_options(factory: str, options: Mapping[str, object], known: Iterable[str]) -> None:
    """Refuse unknown options: a typo in an ini file must not be silently ignored."""
    allowed = set(known)
    unknown = sorted(set(options) - allowed)
    if unknown:
        expected = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(f"{factory}: unknown option {unknown[0]!r} (options: {expected})")


def as_bool(factory: str, option: str, value: object) -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case), or a bool."""
    if isinstance(value, bool):
        return value
    return _convert(factory, option, value, parse_bool, "a boolean")


def as_int(
    factory: str, option: str, value: object, *, min: int | None = None, max: int | None = None
) -> int:
    """A base-10 integer (or an int), within ``min``/``max`` when given."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        number = _convert(factory, option, value, parse_int, "an integer")
    return _bounded(factory, option, value, number, low=min, high=max)


def as_float(
    factory: str,
    option: str,
    value: object,
    *,
    min: float | None = None,
    max: float | None = None,
) -> float:
    """A finite number (or an int/float), within ``min``/``max`` when given."""
    text = value
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)  # one path for both, so inf and nan are refused the same way
    number: float = _convert(factory, option, text, parse_float, "a number")
    return _bounded(factory, option, value, number, low=min, high=max)


def as_list(factory: str, option: str, value: object) -> list[str]:
    """Items separated by commas and/or whitespace (the ini habit), or a list/tuple of str."""
    if isinstance(value, str):
        return [item for item in re.split(r"[\s,]+", value) if item]
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ConfigError(f"{factory}: option {option}={value!r}: expected a list of strings")


def as_size(
    factory: str, option: str, value: object, *, min: int | None = None, max: int | None = None
) -> int:
    """A byte count: ``512``, ``64k``/``64KiB`` (x1024), ``1M``/``1MiB``, ``10MB`` (x10**6)."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        size = _convert(factory, option, value, parse_size, "a size like 512, 64k or 1MiB")
    return _bounded(factory, option, value, size, low=min, high=max)


def _convert(
    factory: str, option: str, value: object, parse: Callable[[str], _T], expected: str
) -> _T:
    if not isinstance(value, str):
        raise ConfigError(f"{factory}: option {option}={value!r}: expected {expected}")
    try:
        return parse(value)
    except ValueError as exc:
        raise ConfigError(f"{factory}: option {option}={value!r}: {exc}") from None


def _bounded(
    factory: str, option: str, raw: object, number: _N, *, low: _N | None, high: _N | None
) -> _N:
    if low is not None and number < low:
        raise ConfigError(f"{factory}: option {option}={raw!r}: must be >= {low}")
    if high is not None and number > high:
        raise ConfigError(f"{factory}: option {option}={raw!r}: must be <= {high}")
    return number
