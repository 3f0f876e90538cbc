"""What ``wsgikit check`` sends and how it judges the answers (the face of the command is
:mod:`wsgikit.cli`).

Each path gets a GET, a HEAD and POSTs of 0 B, 1 kB, 100 kB and 1 MB, each once with a
Content-Length and once chunked (no CONTENT_LENGTH, ``wsgi.input_terminated``), through a
``wsgi.input`` fed in socket-sized pieces, all under :class:`~wsgikit.lint.LintMiddleware`::

    problems = check_app(app, ["/", "/api/x"])   # prints a line a request, returns the count
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from wsgikit.lint import LintMiddleware
from wsgikit.testing import call_app, make_environ
from wsgikit.types import WSGIApplication

__all__ = ["check_app", "check_path"]


def check_path(text: str) -> None:
    """ValueError unless ``text`` is a path the check can request (``/x``, ``/x?q=1``)."""
    if not text.startswith("/"):
        raise ValueError("expected a path starting with /, e.g. /api/items")
    make_environ(text)  # the ValueError names what else is wrong (a non-latin-1 character)


# POST bodies around the sizes where reading goes wrong: none, one socket read, over 64 KiB (a
# common buffer size), many reads. Each is sent with a Content-Length and chunked (no length).
_SIZES = ((0, "0 B"), (1_000, "1 kB"), (100_000, "100 kB"), (1_000_000, "1 MB"))
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True)
class _Probe:
    """One request ``wsgikit check`` sends: ``size`` is a POST body's, ``chunked`` its framing."""

    method: str
    path: str
    size: int | None = None
    chunked: bool = False

    def __str__(self) -> str:
        if self.size is None:
            return f"{self.method} {self.path}"
        label = dict(_SIZES)[self.size]
        return (
            f"{self.method} {self.path} {label} {'chunked' if self.chunked else 'Content-Length'}"
        )

    def environ(self) -> dict[str, Any]:
        if self.size is None:
            return make_environ(self.path, method=self.method)
        # One form field, so that form parsers with a field limit (Django's 1000) take it whole.
        body = (b"wsgikit_check=" + b"x" * self.size)[: self.size]
        length = {} if self.size or self.chunked else {"Content-Length": "0"}
        return make_environ(
            self.path,
            method=self.method,
            body=body,
            headers={**_FORM, **length},
            chunked=self.chunked,
        )


def _probes(path: str) -> list[_Probe]:
    posts = [_Probe("POST", path, size, chunked) for size, _ in _SIZES for chunked in (False, True)]
    return [_Probe("GET", path), _Probe("HEAD", path), *posts]


@dataclass
class _Outcome:
    """What one probe found: the status line, problems, notes, and how much body the app read."""

    probe: _Probe
    status: str = "failed"
    code: int = 0
    read: int = 0
    found: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def report(self) -> int:
        """Print the request, its outcome and findings; return how many problems."""
        size = self.probe.size
        read = "" if not size else " (read all)" if self.read == size else " (read none)"
        if size and 0 < self.read < size:
            read = f" (read {self.read} of {size} bytes)"
        print(f"{self.probe} -> {self.status}{read}")
        for problem in self.found:
            print(f"  problem: {_one_line(problem)}")
        for note in self.notes:
            print(f"  note: {note}")
        return len(self.found)


def _exercise(app: WSGIApplication, probe: _Probe) -> _Outcome:
    """Call the app as a strict server would, under LintMiddleware; judge the answer."""
    # A body on HEAD is allowed here: servers drop it (RFC 9110 §9.3.2), so it is only a note.
    lint = LintMiddleware(app, allow_head_body=True)
    environ = probe.environ()
    stream, outcome = environ["wsgi.input"], _Outcome(probe)
    try:
        result = call_app(lint, environ)
    except AssertionError as exc:  # LintError (and the strict caller's checks) name the rule
        outcome.found.append(str(exc))
    except Exception as exc:
        outcome.found.append(f"the app raised {_describe(exc)}")
    else:
        outcome.status, outcome.code = result.status, result.status_code
        if result.status_code >= 500:
            outcome.found.append(f"{result.status}: a server error on a simple request")
        if probe.method == "HEAD" and result.body:
            outcome.notes.append(
                f"HEAD response has a body ({len(result.body)} bytes): servers drop it"
            )
    if probe.size:
        outcome.read = probe.size - len(stream.read())  # what the app left unread
    if 200 <= outcome.code < 300 and probe.size and 0 < outcome.read < probe.size:
        outcome.found.append(
            f"the app read {outcome.read} of the {probe.size} body bytes and answered "
            f"{outcome.status}: a body cut short (a read taken for all of it?)"
        )
    # Violations the app caught and turned into a response still count.
    outcome.found += [str(err) for err in lint.violations if str(err) not in outcome.found]
    return outcome


def _check_one_path(app: WSGIApplication, path: str) -> int:
    """GET, HEAD and the POSTs on ``path``; print each, then a summary; return the problems."""
    problems, probes, told = 0, _probes(path), False
    read_with_length: dict[int | None, int] = {}
    for probe in probes:
        outcome = _exercise(app, probe)
        if probe.method == "GET" and outcome.code == 404:
            outcome.notes.append(f"{path} is not found: is the app mounted there?")
        if not probe.chunked:
            read_with_length[probe.size] = outcome.read
        elif probe.size and not outcome.read and read_with_length.get(probe.size) == probe.size:
            if not told:  # once a path: the same cause each time
                outcome.notes.append(
                    "the app reads a body sent with a Content-Length but not the same body "
                    "chunked (no CONTENT_LENGTH; wsgi.input_terminated says the stream ends "
                    "itself): chunked uploads reach it empty"
                )
            told = True
        problems += outcome.report()
    print(f"{path}: {len(probes)} requests, {_problems(problems)}")
    return problems


def _problems(count: int) -> str:
    return f"{count or 'no'} problem{'' if count == 1 else 's'}"


def check_app(app: WSGIApplication, paths: Iterable[str]) -> int:
    """Check each path, then a page that should 404; print what was found; return the count."""
    problems = sum(_check_one_path(app, path) for path in paths)
    return problems + _exercise(app, _Probe("GET", "/wsgikit-check/no-such-page")).report()


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text).strip()


def _describe(exc: BaseException) -> str:
    """``ValueError: boom (app.py, line 3)``: the innermost frame is where the app raised it."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        text += f" ({os.path.basename(frames[-1].filename)}, line {frames[-1].lineno})"
    return text
