"""StaticFiles' option checks: each option validated at construction, errors naming it.

Private to :mod:`wsgikit.middleware.static`::

    mounts = mounts_option({"/static": "static"})  # [("/static/", ("/srv/app/static",))]
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

from wsgikit.middleware.static._entry import SUFFIXES

__all__ = [
    "content_types_option",
    "encodings_option",
    "flag_option",
    "index_option",
    "mounts_option",
    "seconds_option",
]

_NAME = "StaticFiles"


def mounts_option(directories: object) -> list[tuple[str, tuple[str, ...]]]:
    if not isinstance(directories, Mapping) or not directories:
        raise TypeError(f"{_NAME}: directories must be a dict {{'/prefix/': directory}}")
    mounts: dict[str, tuple[str, ...]] = {}
    for prefix, where in directories.items():
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ValueError(f"{_NAME}: prefix {prefix!r} must be a str starting with '/'")
        normal = prefix if prefix.endswith("/") else prefix + "/"
        if normal in mounts:
            raise ValueError(f"{_NAME}: prefix {prefix!r} is given twice")
        if isinstance(where, str | os.PathLike):
            items = [where]
        elif isinstance(where, Iterable):
            items = list(where)
        else:
            raise TypeError(f"{_NAME}: directory for {prefix!r} must be a path, got {where!r}")
        mounts[normal] = tuple(_root(normal, item) for item in items)
        if not mounts[normal]:
            raise ValueError(f"{_NAME}: prefix {prefix!r} has no directory")
    return list(mounts.items())


def _root(prefix: str, where: object) -> str:
    if not isinstance(where, str | os.PathLike):
        raise TypeError(f"{_NAME}: directory for {prefix!r} must be a path, got {where!r}")
    root = os.path.realpath(os.fspath(where))
    if not os.path.isdir(root):
        raise ValueError(f"{_NAME}: directory for {prefix!r}: {os.fspath(where)!r} is no directory")
    return root


def flag_option(name: str, value: object) -> bool:
    if type(value) is not bool:
        raise TypeError(f"{_NAME}: {name} must be True or False, got {value!r}")
    return value


def index_option(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or "/" in value or value in (".", ".."):
        raise ValueError(f"{_NAME}: index must be a file name such as 'index.html', got {value!r}")
    return value


def encodings_option(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"{_NAME}: encodings must be a list of names, got {value!r}")
    names = tuple(value)
    if len(set(names)) != len(names) or not set(names) <= set(SUFFIXES):
        raise ValueError(f"{_NAME}: encodings must be distinct, of {sorted(SUFFIXES)}: {names!r}")
    return names


def content_types_option(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{_NAME}: content_types must be a dict {{'.ext': 'type/subtype'}}")
    types = {}
    for suffix, media in value.items():
        if not isinstance(suffix, str) or not suffix.startswith(".") or not isinstance(media, str):
            raise ValueError(f"{_NAME}: content_types: {suffix!r}: {media!r} is not '.ext': 'type'")
        if "/" not in media:
            raise ValueError(f"{_NAME}: content_types: {media!r} is not type/subtype")
        types[suffix.lower()] = media
    return types


def seconds_option(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{_NAME}: {name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{_NAME}: {name} must be >= 0, got {value!r}")
    return float(value)
