"""ErrorMiddleware's debug-page step: a traceback to read, for the clients allowed to see it.

Shows the exception chain, each frame with its source context and local variables, and the
request environ, all HTML-escaped, long reprs cut, secrets masked. It is a static page: no
console, no evaluation endpoint, no script (its Content-Security-Policy, ``_page.CSP``, forbids
any)::

    body = render_html(exc_info, environ, error_id="a1b2c3d4")
    text = traceback_text(exc_info)     # for the plain-text and JSON variants

Bounded whatever the app did (a 1000-frame recursion, huge or slow or raising reprs): at most
:data:`FIRST_FRAMES` + :data:`LAST_FRAMES` frames an exception (the middle ones collapsed into
"K frames omitted"), :data:`MAX_LOCALS` locals a frame, ``MAX_REPR`` characters a value,
``REPR_TIME_BUDGET`` seconds in reprs and ``MAX_PAGE`` bytes in all (see
:mod:`._repr`). When the page fills up, the frames nearest the error keep their
locals and the outer ones show only where they are.
"""

from __future__ import annotations

import linecache
import traceback
from collections.abc import Iterator
from html import escape
from types import FrameType, TracebackType

from wsgikit.middleware._request_text import MASK, QUERY_KEYS, is_secret, mask_query, request_line
from wsgikit.middleware.errors._page import STATUS
from wsgikit.middleware.errors._repr import (
    MAX_PAGE,
    MAX_REPR,
    Budget,
    cut,
    failure,
    safe_repr,
    safe_str,
)
from wsgikit.types import ExcInfo, WSGIEnvironment

__all__ = ["render_html", "safe_repr", "traceback_text"]

MAX_LOCALS = 50  # per frame, in name order; the rest are counted in a note
FIRST_FRAMES = 10  # outermost frames of an exception shown (where the request came in)
LAST_FRAMES = 20  # innermost frames shown (where it failed)
MAX_CHAIN = 10  # exceptions of a __cause__ / __context__ chain
MAX_TRACEBACK = 100_000  # characters of the plain-text traceback
CONTEXT = 5  # source lines shown before and after the current line
# Bytes kept back while frames are rendered: the request environ, and one frame's source lines
# (11 lines of at most MAX_REPR characters, escaped) that may go in after the last check.
_ENVIRON_ROOM = MAX_PAGE // 4
_ROW_ROOM = 16 * MAX_REPR  # one table row, escaped, and the closing tags

# overflow-wrap:anywhere: a long value with no break point (a query string, a token, an Accept
# header) wraps inside its cell instead of widening the page past the window.
_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 2em 2em;color:#222;overflow-wrap:anywhere}
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


def traceback_text(exc_info: ExcInfo) -> str:
    """The traceback as Python prints it (no locals), for the plain-text and JSON pages."""
    try:
        text = "".join(traceback.format_exception(exc_info[1]))
        if len(text) > MAX_TRACEBACK:  # a huge message: keep the start and the last lines
            cut_size = len(text) - MAX_TRACEBACK
            half = MAX_TRACEBACK // 2
            text = f"{text[:half]}\n… ({cut_size} characters cut) …\n{text[-half:]}"
        return text
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a __str__ of the app's may raise anything
        # The stdlib formatter copes with most things; keep a last resort.
        return f"{exc_info[0].__qualname__}: {safe_str(exc_info[1])} ({failure(exc)})\n"


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


def _frames(tb: TracebackType | None) -> list[tuple[FrameType, int] | int]:
    """The frames shown, outermost first; an int stands for that many frames omitted."""
    frames: list[tuple[FrameType, int] | int] = list(traceback.walk_tb(tb))
    if len(frames) > FIRST_FRAMES + LAST_FRAMES:
        omitted = len(frames) - FIRST_FRAMES - LAST_FRAMES
        frames = [*frames[:FIRST_FRAMES], omitted, *frames[-LAST_FRAMES:]]
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
        line = escape(cut(lines[number - 1].rstrip("\r\n"))) or " "
        current = ' class="current"' if number == lineno else ""
        yield f"<li{current}>{line}</li>"
    yield "</ol>"


def _value_row(name: str, value: object, budget: Budget) -> str:
    if is_secret(name):
        shown = f'<span class="masked">{MASK}</span>'
    else:
        shown = f"<pre>{escape(budget.repr(value))}</pre>"
    return f"<tr><th>{escape(name)}</th><td>{shown}</td></tr>"


def _locals(frame: FrameType, budget: Budget) -> Iterator[str]:
    if frame.f_code.co_name == "<module>":
        # A module frame's locals are its globals: long, and rarely what went wrong.
        yield '<p class="note">module-level frame: globals not shown</p>'
        return
    names = sorted(frame.f_locals.items(), key=lambda item: item[0])
    if not names:
        yield '<p class="note">no local variables</p>'
        return
    shown = 0
    yield budget.add('<table class="locals">')
    for name, value in names[:MAX_LOCALS]:
        if not budget.room(_ENVIRON_ROOM):
            break
        yield budget.add(_value_row(name, value, budget))
        shown += 1
    yield budget.add("</table>")
    if shown < len(names):
        why = "the page reached its size limit" if shown < MAX_LOCALS else f"{MAX_LOCALS} shown"
        count = len(names) - shown
        yield budget.add(f'<p class="note">{count} more local variables not shown ({why})</p>')


def _frame(frame: FrameType, lineno: int, is_open: bool, budget: Budget) -> str:
    """One frame as a folding list item; its source and locals only while the page has room."""
    code = frame.f_code
    parts = [
        budget.add(
            f'<li class="frame"><details{" open" if is_open else ""}><summary><code class="file">'
            f"{escape(code.co_filename)}</code>, line {lineno}, in "
            f'<code class="function">{escape(code.co_qualname)}</code></summary>'
        )
    ]
    if budget.room(_ENVIRON_ROOM):
        parts.extend(budget.add(piece) for piece in _source(frame, lineno))
        parts.extend(_locals(frame, budget))
    else:
        parts.append(budget.add('<p class="note">source and locals not shown: page size limit</p>'))
    parts.append(budget.add("</details></li>"))
    return "".join(parts)


def _exception(exc: BaseException, note: str, last: bool, budget: Budget) -> str:
    """One exception of the chain. Its frames are rendered innermost first, so that when the
    page fills up the frames nearest the error are the ones that keep their details."""
    frames = _frames(exc.__traceback__)
    items: list[str] = []
    for index in range(len(frames) - 1, -1, -1):
        item = frames[index]
        if isinstance(item, int):
            items.append(budget.add(f'<li class="note">… {item} frames omitted …</li>'))
        else:
            # The frame that raised the shown exception is open; the others fold (no script).
            items.append(_frame(*item, last and index == len(frames) - 1, budget))
    heading = [
        budget.add('<section class="exception">'),
        budget.add(f'<p class="note">{escape(note)}</p>' if note else ""),
        budget.add(f"<h2>{escape(type(exc).__qualname__)}: {escape(safe_str(exc))}</h2>"),
    ]
    for extra in _notes(exc):
        if not budget.room(_ENVIRON_ROOM):
            break
        heading.append(budget.add(f'<p class="note">{escape(budget.repr(extra))}</p>'))
    items.reverse()
    opening, closing = budget.add('<ol class="frames">'), budget.add("</ol></section>")
    return "\n".join([*heading, opening, *items, closing])


def _notes(exc: BaseException) -> list[object]:
    """PEP 678 ``__notes__``, if they are a list (anything may be assigned there)."""
    notes = exc.__dict__.get("__notes__") if hasattr(exc, "__dict__") else None
    return notes if isinstance(notes, list) else []


def _environ(environ: WSGIEnvironment, budget: Budget) -> Iterator[str]:
    yield '<section class="environ"><h2>Request environ</h2><table>'
    keys = sorted(environ, key=str)
    for index, key in enumerate(keys):
        if not budget.room(_ROW_ROOM):
            count = len(keys) - index
            yield budget.add(
                f'</table><p class="note">{count} more keys not shown (size limit)</p>'
            )
            yield "<table>"
            break
        value = environ[key]
        name = str(key)
        if name in QUERY_KEYS and isinstance(value, str):
            value = mask_query(value)
        if isinstance(value, str) and not is_secret(name):
            text = value if len(value) <= MAX_REPR else safe_repr(value, budget.engine)
            yield budget.add(f"<tr><th>{escape(name)}</th><td><pre>{escape(text)}</pre></td></tr>")
        else:
            yield budget.add(_value_row(name, value, budget))
    yield "</table></section>"


def render_html(exc_info: ExcInfo, environ: WSGIEnvironment, error_id: str) -> bytes:
    """The whole debug page, UTF-8 encoded, at most ``MAX_PAGE`` bytes."""
    budget = Budget(environ)
    exc = exc_info[1]
    title = f"{type(exc).__qualname__}: {safe_str(exc)}"  # cut: a message can be huge
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="robots" content="noindex">',
        f"<title>{escape(STATUS)}: {escape(title[:200])}</title><style>{_STYLE}</style></head>",
        f"<body><header><h1>{escape(title)}</h1>",
        f'<p class="request">{escape(request_line(environ))}</p>',
        f'<p class="ref">Error reference: <code>{escape(error_id)}</code></p></header>',
    ]
    budget.add("".join(parts))
    chain = _chain(exc)
    # The last exception (the one that reached us) first, for the same reason as frames.
    sections = [
        _exception(link, note, index == len(chain) - 1, budget)
        for index, (link, note) in reversed(list(enumerate(chain)))
    ]
    parts.extend(reversed(sections))
    parts.extend(_environ(environ, budget))
    parts.append("</body></html>\n")
    return "\n".join(parts).encode("utf-8", "replace")
