"""ErrorMiddleware's debug-page step for values: reprs that are cut, masked, never raise, and
stop when the page runs out of time or room.

A value's ``__repr__`` is the app's code: it may raise anything (SystemExit, GeneratorExit, a
library's own BaseException), be huge, or be slow. :class:`Budget` holds one page's limits::

    budget = Budget(environ)
    budget.repr(value)          # "<repr failed: SystemExit(3)>", "<not rendered: time budget>"
    if budget.room(reserve): ...   # still under MAX_PAGE with ``reserve`` bytes kept back
"""

from __future__ import annotations

import reprlib
import time
from itertools import islice

from wsgikit.middleware._request_text import MASK, QUERY_KEYS, is_secret, mask_query

__all__ = [
    "MAX_PAGE",
    "MAX_REPR",
    "NOT_RENDERED",
    "REPR_TIME_BUDGET",
    "Budget",
    "cut",
    "failure",
    "safe_repr",
    "safe_str",
]

MAX_REPR = 1000  # characters of one value shown; the rest is cut with a note
#: Bytes of the whole debug page (UTF-8). Frames stop first, keeping room for the environ.
MAX_PAGE = 1_000_000
#: Seconds the page may spend in the app's __repr__ methods; later values are not rendered.
#: One repr that blocks is not interrupted: the budget is checked between values.
REPR_TIME_BUDGET = 1.0
NOT_RENDERED = "<not rendered: time budget>"


class _MaskingRepr(reprlib.Repr):
    """reprlib with limits, and with secrets masked by name wherever they turn up: values of
    dicts under secret-looking keys (an environ copy, settings), ``(name, value)`` pairs such as
    header tuples, and the request environ itself, which has its own masked section."""

    def __init__(self, environ: object = None) -> None:
        super().__init__()
        self.environ = environ
        self.maxlevel = 3
        self.maxstring = self.maxother = MAX_REPR
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 30
        self.maxfrozenset = self.maxdeque = self.maxarray = 30
        self.maxlong = 200

    def repr1(self, x: object, level: int) -> str:
        if x is self.environ and x is not None:
            return "<the request environ: see 'Request environ' below>"
        if isinstance(x, dict):
            return self._dict(x, level)
        if type(x) is tuple and len(x) == 2 and isinstance(x[0], str) and is_secret(x[0]):
            return f"({self.repr1(x[0], level - 1)}, {MASK!r})"
        return super().repr1(x, level)

    def repr_instance(self, x: object, level: int) -> str:
        # reprlib's own shows "<X instance at 0x...>" for an Exception and lets a BaseException
        # through: say what failed, and let nothing but ^C out.
        try:
            text = repr(x)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit, GeneratorExit... from app code
            return f"<repr failed: {failure(exc)}>"
        if len(text) > self.maxother:
            half = max(0, (self.maxother - 3) // 2)
            return f"{text[:half]}...{text[len(text) - half :]}"
        return text

    def _dict(self, x: dict[object, object], level: int) -> str:
        prefix, suffix = ("{", "}") if type(x) is dict else (f"{type(x).__qualname__}({{", "})")
        if not x:
            return prefix + suffix
        if level <= 0:
            return prefix + "..." + suffix
        pieces = []
        for key, value in islice(dict.items(x), self.maxdict):
            if isinstance(key, str) and is_secret(key):
                shown = repr(MASK)
            elif key in QUERY_KEYS and isinstance(value, str):
                shown = self.repr1(mask_query(value), level - 1)
            else:
                shown = self.repr1(value, level - 1)
            pieces.append(f"{self.repr1(key, level - 1)}: {shown}")
        if len(x) > self.maxdict:
            pieces.append("...")
        return prefix + ", ".join(pieces) + suffix


def failure(exc: BaseException) -> str:
    """``SystemExit(3)``: what a failed repr() or str() raised, shown without trusting it."""
    try:
        args = ", ".join(reprlib.repr(arg) for arg in exc.args)
    except KeyboardInterrupt:
        raise
    except BaseException:  # the arguments' own repr failed too
        args = "..."
    return cut(f"{type(exc).__qualname__}({args})")


def safe_repr(value: object, engine: reprlib.Repr | None = None) -> str:
    """A repr that never raises (but for KeyboardInterrupt) and is at most about
    :data:`MAX_REPR` characters."""
    try:
        text = (engine or _MaskingRepr()).repr(value)
    except KeyboardInterrupt:  # the operator's ^C still stops the process
        raise
    except BaseException as exc:  # SystemExit, GeneratorExit... from app code
        return f"<repr failed: {failure(exc)}>"
    if len(text) > MAX_REPR:  # a container of long items: cut the whole
        return cut(text)
    if isinstance(value, str | bytes | bytearray) and len(value) > MAX_REPR:
        # reprlib kept the start and the end of it, "..." between them.
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{text} ({len(value)} {unit} in all)"
    return text


def safe_str(exc: BaseException) -> str:
    """``str(exc)`` cut to :data:`MAX_REPR`; a note instead if ``__str__`` raises."""
    try:
        text = str(exc)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # app code, as in safe_repr
        return f"<str() failed: {failure(error)}>"
    return cut(text)


def cut(text: str) -> str:
    if len(text) > MAX_REPR:
        return f"{text[:MAX_REPR]}… ({len(text) - MAX_REPR} more characters cut)"
    return text


class Budget:
    """One page's repr engine, time budget and size so far (bytes of UTF-8)."""

    __slots__ = ("deadline", "engine", "size")

    def __init__(self, environ: object = None) -> None:
        self.engine = _MaskingRepr(environ)
        self.deadline = time.monotonic() + REPR_TIME_BUDGET
        self.size = 0

    def repr(self, value: object) -> str:
        """:func:`safe_repr`, or :data:`NOT_RENDERED` once the time budget is spent."""
        if time.monotonic() > self.deadline:
            return NOT_RENDERED
        return safe_repr(value, self.engine)

    def add(self, piece: str) -> str:
        """Count ``piece`` (and the newline that may join it to the next) as part of the page;
        return it."""
        self.size += len(piece.encode("utf-8", "replace")) + 1
        return piece

    def room(self, reserve: int) -> bool:
        """Whether the page is still ``reserve`` bytes or more under :data:`MAX_PAGE`."""
        return self.size + reserve < MAX_PAGE
