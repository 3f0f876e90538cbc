"""The debug page of :class:`~wsgikit.middleware.errors.ErrorMiddleware`: a traceback to read.

Shows the exception chain, each frame with its source context and local variables, and the
request environ, all HTML-escaped, long reprs cut, secrets masked. It is a static page: no
console, no evaluation endpoint, no script (its Content-Security-Policy forbids any)::

    body = render_html(exc_info, environ, error_id="a1b2c3d4")
    text = traceback_text(exc_info)     # for the plain-text and JSON variants
"""

from __future__ import annotations

import linecache
import reprlib
import traceback
from collections.abc import Iterator
from html import escape
from itertools import islice
from types import FrameType, TracebackType

from wsgikit.middleware._errorpage import (
    MASK,
    QUERY_KEYS,
    STATUS,
    is_secret,
    mask_query,
    request_line,
)
from wsgikit.types import ExcInfo, WSGIEnvironment

__all__ = ["CSP", "render_html", "safe_repr", "traceback_text"]

#: No script, no frames, no network: the page needs only its inline style.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

MAX_REPR = 1000  # characters of one value shown; the rest is cut with a note
MAX_LOCALS = 100  # per frame
MAX_FRAMES = 60  # per exception; deep recursion keeps the first and last frames
MAX_CHAIN = 10  # exceptions of a __cause__ / __context__ chain
MAX_TRACEBACK = 100_000  # characters of the plain-text traceback
CONTEXT = 5  # source lines shown before and after the current line

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 2em 2em;color:#222}
h1{font-size:1.5em;color:#a00;margin:.6em 0 .2em}h2{font-size:1.2em;margin:1.2em 0 .3em}
code,pre{font:13px/1.35 ui-monospace,monospace}pre{margin:0;white-space:pre-wrap}
.request,.ref{color:#555;margin:.2em 0}.note{font-style:italic;color:#555}
ol.frames{list-style:none;padding:0}li.frame{border:1px solid #ddd;margin:.4em 0}
li.frame summary{background:#f4f4f4;padding:.3em .6em;cursor:pointer}
ol.source{margin:0;padding:.3em 0 .3em 4em;background:#fafafa}
ol.source li{white-space:pre-wrap;font:13px/1.35 ui-monospace,monospace}
ol.source li.current{background:#fde2e2;font-weight:bold}
table{border-collapse:collapse;width:100%}th,td{border-top:1px solid #eee;padding:.15em .6em;
text-align:left;vertical-align:top}th{width:14em;font-weight:normal;color:#555}
.masked{color:#888}
"""


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


def _repr_engine(environ: object = None) -> reprlib.Repr:
    return _MaskingRepr(environ)


def safe_repr(value: object, engine: reprlib.Repr | None = None) -> str:
    """A repr that never raises and is at most about :data:`MAX_REPR` characters."""
    try:
        text = (engine or _repr_engine()).repr(value)
    except Exception as exc:  # a broken __repr__ must not break the error page
        return f"<{type(value).__qualname__} object; repr() raised {type(exc).__qualname__}>"
    if len(text) > MAX_REPR:  # a container of long items: cut the whole
        return _cut(text)
    if isinstance(value, str | bytes | bytearray) and len(value) > MAX_REPR:
        # reprlib kept the start and the end of it, "..." between them.
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{text} ({len(value)} {unit} in all)"
    return text


def _safe_str(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        return "<str() of the exception raised>"
    return _cut(text)


def _cut(text: str) -> str:
    if len(text) > MAX_REPR:
        return f"{text[:MAX_REPR]}… ({len(text) - MAX_REPR} more characters cut)"
    return text


def traceback_text(exc_info: ExcInfo) -> str:
    """The traceback as Python prints it (no locals), for the plain-text and JSON pages."""
    try:
        text = "".join(traceback.format_exception(exc_info[1]))
        if len(text) > MAX_TRACEBACK:  # a huge message: keep the start and the last lines
            cut = len(text) - MAX_TRACEBACK
            half = MAX_TRACEBACK // 2
            text = f"{text[:half]}\n… ({cut} characters cut) …\n{text[-half:]}"
        return text
    except Exception:  # the stdlib formatter copes with most things; keep a last resort
        return f"{exc_info[0].__qualname__}: {_safe_str(exc_info[1])}\n"


def _chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """Oldest first, each with the note that links it to the next one (as Python prints them)."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(chain) < MAX_CHAIN:
        seen.add(id(current))
        older: BaseException | None = None
        note = ""
        if current.__cause__ is not None:
            older = current.__cause__
            note = "The above exception was the direct cause of the following exception:"
        elif current.__context__ is not None and not current.__suppress_context__:
            older = current.__context__
            note = "During handling of the above exception, another exception occurred:"
        chain.append((current, note))
        current = older
    chain.reverse()
    if chain:  # the oldest one shown has nothing above it (the rest may have been cut)
        chain[0] = (chain[0][0], "")
    return chain


def _frames(tb: TracebackType | None) -> list[tuple[FrameType, int] | None]:
    frames: list[tuple[FrameType, int] | None] = list(traceback.walk_tb(tb))
    if len(frames) > MAX_FRAMES:
        keep = MAX_FRAMES // 3
        frames = [*frames[:keep], None, *frames[len(frames) - (MAX_FRAMES - keep) :]]
    return frames


def _source(frame: FrameType, lineno: int) -> Iterator[str]:
    filename = frame.f_code.co_filename
    lines = linecache.getlines(filename, frame.f_globals)
    if not lines or not lineno or lineno < 1 or lineno > len(lines):
        yield '<p class="note">source not available</p>'
        return
    first = max(1, lineno - CONTEXT)
    last = min(len(lines), lineno + CONTEXT)
    yield f'<ol class="source" start="{first}">'
    for number in range(first, last + 1):
        line = escape(_cut(lines[number - 1].rstrip("\r\n"))) or " "
        current = ' class="current"' if number == lineno else ""
        yield f"<li{current}>{line}</li>"
    yield "</ol>"


def _value_row(name: str, value: object, engine: reprlib.Repr) -> str:
    if is_secret(name):
        shown = f'<span class="masked">{MASK}</span>'
    else:
        shown = f"<pre>{escape(safe_repr(value, engine))}</pre>"
    return f"<tr><th>{escape(name)}</th><td>{shown}</td></tr>"


def _locals(frame: FrameType, engine: reprlib.Repr) -> Iterator[str]:
    if frame.f_code.co_name == "<module>":
        # A module frame's locals are its globals: long, and rarely what went wrong.
        yield '<p class="note">module-level frame: globals not shown</p>'
        return
    names = sorted(frame.f_locals.items(), key=lambda item: item[0])
    if not names:
        yield '<p class="note">no local variables</p>'
        return
    yield '<table class="locals">'
    for name, value in names[:MAX_LOCALS]:
        yield _value_row(name, value, engine)
    yield "</table>"
    if len(names) > MAX_LOCALS:
        yield f'<p class="note">{len(names) - MAX_LOCALS} more local variables not shown</p>'


def _exception(exc: BaseException, note: str, last: bool, engine: reprlib.Repr) -> Iterator[str]:
    yield '<section class="exception">'
    if note:
        yield f'<p class="note">{escape(note)}</p>'
    yield f"<h2>{escape(type(exc).__qualname__)}: {escape(_safe_str(exc))}</h2>"
    for extra in getattr(exc, "__notes__", None) or ():
        yield f'<p class="note">{escape(safe_repr(extra, engine))}</p>'
    frames = _frames(exc.__traceback__)
    yield '<ol class="frames">'
    for index, item in enumerate(frames):
        if item is None:
            yield '<li class="note">… frames omitted …</li>'
            continue
        frame, lineno = item
        code = frame.f_code
        # The frame that raised the shown exception is open; the others fold (no script needed).
        is_open = " open" if last and index == len(frames) - 1 else ""
        yield (
            f'<li class="frame"><details{is_open}><summary><code class="file">'
            f"{escape(code.co_filename)}</code>, line {lineno}, in "
            f'<code class="function">{escape(code.co_qualname)}</code></summary>'
        )
        yield from _source(frame, lineno)
        yield from _locals(frame, engine)
        yield "</details></li>"
    yield "</ol></section>"


def _environ(environ: WSGIEnvironment, engine: reprlib.Repr) -> Iterator[str]:
    yield '<section class="environ"><h2>Request environ</h2><table>'
    for key in sorted(environ, key=str):
        value = environ[key]
        name = str(key)
        if name in QUERY_KEYS and isinstance(value, str):
            value = mask_query(value)
        if isinstance(value, str) and not is_secret(name):
            text = value if len(value) <= MAX_REPR else safe_repr(value, engine)
            yield f"<tr><th>{escape(name)}</th><td><pre>{escape(text)}</pre></td></tr>"
        else:
            yield _value_row(name, value, engine)
    yield "</table></section>"


def render_html(exc_info: ExcInfo, environ: WSGIEnvironment, error_id: str) -> bytes:
    """The whole debug page, UTF-8 encoded."""
    engine = _repr_engine(environ)
    exc = exc_info[1]
    title = f"{type(exc).__qualname__}: {_safe_str(exc)}"  # cut: a message can be huge
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="robots" content="noindex">',
        f"<title>{escape(STATUS)}: {escape(title[:200])}</title><style>{_STYLE}</style></head>",
        f"<body><header><h1>{escape(title)}</h1>",
        f'<p class="request">{escape(request_line(environ))}</p>',
        f'<p class="ref">Error reference: <code>{escape(error_id)}</code></p></header>',
    ]
    chain = _chain(exc)
    for index, (link, note) in enumerate(chain):
        parts.extend(_exception(link, note, index == len(chain) - 1, engine))
    parts.extend(_environ(environ, engine))
    parts.append("</body></html>\n")
    return "\n".join(parts).encode("utf-8", "replace")
