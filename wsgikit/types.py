"""WSGI type aliases used across wsgikit.

Re-exported from :mod:`wsgiref.types` (Python 3.11+) so that annotations read the same everywhere::

    from wsgikit.types import WSGIApplication, WSGIEnvironment, StartResponse
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TypeAlias
from wsgiref.types import (
    ErrorStream,
    FileWrapper,
    InputStream,
    StartResponse,
    WSGIApplication,
    WSGIEnvironment,
)

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType]
OptExcInfo: TypeAlias = ExcInfo | tuple[None, None, None]
Middleware: TypeAlias = Callable[[WSGIApplication], WSGIApplication]
"""A layer: any callable that takes an app and returns an app (a class, a partial, a factory)."""

__all__ = [
    "ErrorStream",
    "ExcInfo",
    "FileWrapper",
    "InputStream",
    "Middleware",
    "OptExcInfo",
    "StartResponse",
    "WSGIApplication",
    "WSGIEnvironment",
]
