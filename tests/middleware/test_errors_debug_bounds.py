"""ErrorMiddleware's debug page stays bounded whatever the app did: reprs that raise a
BaseException, a 1000-frame recursion with many locals, too many locals, slow reprs."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from html import escape
from typing import Any

import pytest

from tests.middleware.errors_helpers import BROWSER, Boom, get
from wsgikit.middleware.errors import ErrorMiddleware, _repr
from wsgikit.middleware.errors._debug import FIRST_FRAMES, LAST_FRAMES, MAX_LOCALS
from wsgikit.middleware.errors._repr import MAX_PAGE
from wsgikit.testing import Result
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

# The apps come first: the page shows source lines around each frame, and those must not hold
# the texts the tests look for.


class LibraryAbort(BaseException):
    """A library's own BaseException, as some use for cancellation."""


class Hostile:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __repr__(self) -> str:
        raise self.exc


def hostile_local(exc: BaseException) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        thing = Hostile(exc)
        raise Boom(str(id(thing)))

    return app


class HostileStr(Exception):
    def __str__(self) -> str:
        raise SystemExit(4)


def hostile_message(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    raise HostileStr()


# One frame with 50 locals a level, recursing until Python stops it (RecursionError).
_DEEP = "def deep(filler):\n" + "".join(f"    v{i:02} = filler\n" for i in range(49))
_DEEP += "    return deep(filler)\n"
_namespace: dict[str, Any] = {}
exec(compile(_DEEP, "<deep>", "exec"), _namespace)


def recursion(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    _namespace["deep"]("<&>" * 400)  # escaped, each value grows to 2000+ bytes on the page
    return []


def many_locals(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    space: dict[str, Any] = {}
    exec(
        "def crowded():\n" + "".join(f"    w{i:02} = {i}\n" for i in range(80)) + "    1/0\n", space
    )
    space["crowded"]()
    return []


class Slow:
    calls = 0

    def __repr__(self) -> str:
        Slow.calls += 1
        time.sleep(0.1)
        return "slow"


def slow_locals(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    space: dict[str, Any] = {"Slow": Slow}
    exec(
        "def sluggish():\n" + "".join(f"    s{i} = Slow()\n" for i in range(10)) + "    1/0\n",
        space,
    )
    space["sluggish"]()
    return []


def debug_page(app: WSGIApplication, **kwargs: Any) -> Result:
    return get(ErrorMiddleware(app, debug=True), headers={"Accept": BROWSER}, **kwargs)


# --- reprs that raise ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "shown"),
    [
        pytest.param(SystemExit(3), "SystemExit(3)", id="SystemExit"),
        pytest.param(GeneratorExit(), "GeneratorExit()", id="GeneratorExit"),
        pytest.param(LibraryAbort("cancelled"), "LibraryAbort('cancelled')", id="own-subclass"),
        pytest.param(RuntimeError("broke"), "RuntimeError('broke')", id="Exception"),
    ],
)
def test_a_repr_that_raises_is_named_on_the_page(exc: BaseException, shown: str) -> None:
    result = debug_page(hostile_local(exc))
    assert result.status.startswith("500")
    assert f"<th>thing</th><td><pre>{escape(f'<repr failed: {shown}>')}" in result.body.decode()


def test_a_message_whose_str_raises_systemexit() -> None:
    result = debug_page(hostile_message)
    assert result.status.startswith("500")
    assert "HostileStr: &lt;str() failed: SystemExit(4)&gt;" in result.body.decode()


# --- size --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deep_page() -> str:
    return debug_page(recursion, HTTP_X_MARKER="still-shown").body.decode()


def test_deep_recursion_page_is_within_the_size_limit_and_keeps_what_matters(
    deep_page: str,
) -> None:
    assert len(deep_page.encode()) <= MAX_PAGE
    innermost = deep_page[deep_page.rindex('<li class="frame">') :]
    assert "<th>v48</th>" in innermost  # the frame that failed keeps its locals
    assert "<th>HTTP_X_MARKER</th><td><pre>still-shown</pre>" in deep_page  # and the environ


def test_deep_recursion_collapses_the_middle_frames(deep_page: str) -> None:
    omitted = re.findall(r"… (\d+) frames omitted …", deep_page)
    assert len(omitted) == 1 and int(omitted[0]) > 500
    assert deep_page.count('<li class="frame">') == FIRST_FRAMES + LAST_FRAMES


def test_locals_a_frame_are_capped() -> None:
    page = debug_page(many_locals).body.decode()
    crowded = page[page.index('in <code class="function">crowded</code>') :]
    crowded = crowded[: crowded.index("</details>")]
    assert crowded.count("<tr><th>w") == MAX_LOCALS
    assert f"{80 - MAX_LOCALS} more local variables not shown" in crowded


# --- time --------------------------------------------------------------------------------------


def test_slow_reprs_stop_at_the_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_repr, "REPR_TIME_BUDGET", 0.25)
    Slow.calls = 0
    page = debug_page(slow_locals).body.decode()
    assert "&lt;not rendered: time budget&gt;" in page
    assert Slow.calls < 10
