"""Checks for the options several middleware take, so that each gives the same clear error.

Options are validated when the middleware is built (DESIGN.md "Middleware shape"), and the
error names the middleware and the option::

    self.max_buffer = size_option("GzipMiddleware", "max_buffer", max_buffer)
"""

from __future__ import annotations

__all__ = ["size_option"]


def size_option(owner: str, name: str, value: object) -> int:
    """``value`` when it is an int >= 0 (a number of bytes); TypeError or ValueError otherwise."""
    if type(value) is not int:  # bool is an int subclass but never a size
        raise TypeError(f"{owner}: {name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{owner}: {name} must be >= 0, got {value!r}")
    return value
