"""Checks for the options several middleware take, so that each gives the same clear error.

Options are validated when the middleware is built (DESIGN.md "Middleware shape"), and the
error names the middleware and the option::

    self.app = app_option("GzipMiddleware", app)
    self.max_buffer = size_option("GzipMiddleware", "max_buffer", max_buffer)
"""

from __future__ import annotations

from wsgikit.types import WSGIApplication

__all__ = ["app_option", "size_option"]


def app_option(owner: str, app: WSGIApplication) -> WSGIApplication:
    """``app`` when it is callable (PEP 3333: an application is a callable); TypeError otherwise."""
    if not callable(app):
        raise TypeError(f"{owner}: app must be a WSGI callable, got {app!r}")
    return app


def size_option(owner: str, name: str, value: object) -> int:
    """``value`` when it is an int >= 0 (a number of bytes); TypeError or ValueError otherwise."""
    if type(value) is not int:  # bool is an int subclass but never a size
        raise TypeError(f"{owner}: {name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{owner}: {name} must be >= 0, got {value!r}")
    return value
