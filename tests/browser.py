"""Headless Chromium driven over the DevTools protocol, for tests of pages users open in a browser.

Chromium runs with ``--remote-debugging-pipe``: it reads protocol commands on fd 3 and writes
answers and events on fd 4, each a JSON message ended by a NUL byte, so no websocket client is
needed. A missing Chromium skips the test, or fails it with ``WSGIKIT_REQUIRE_INTEGRATION=1``
(Debian's ``chromium-headless-shell``, which .ci/run installs)::

    with start_chromium(tmp_path) as browser:
        tab = browser.open("http://127.0.0.1:8000/")
        title = tab.evaluate("document.title")
        assert tab.problems == []          # script errors and console errors, as they came
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.integration import missing

PROGRAMS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
DEADLINE = 30.0  # seconds any one command or awaited event may take
Message = dict[str, Any]


def find_chromium() -> str:
    for name in PROGRAMS:
        found = shutil.which(name)
        if found:
            return found
    return missing("headless Chromium is not installed (apt-get install chromium-headless-shell)")


class Browser:
    """One Chromium process and the protocol pipe to it."""

    def __init__(self, proc: subprocess.Popen[bytes], commands: int, answers: int) -> None:
        self.proc = proc
        self._out = commands
        self._in = answers
        self._buffer = b""
        self._ids = iter(range(1, 1 << 30))
        self.events: list[Message] = []

    def send(self, method: str, session: str | None = None, **params: Any) -> Message:
        """Run one command and return its result; raise AssertionError on a protocol error."""
        number = next(self._ids)
        message: Message = {"id": number, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        answer = self.wait(lambda m: m.get("id") == number, f"the answer to {method}")
        assert "error" not in answer, (method, answer["error"])
        result: Message = answer.get("result", {})
        return result

    def wait(self, match: Any, what: str) -> Message:
        """The first message ``match`` accepts; the events read on the way are kept."""
        end = time.monotonic() + DEADLINE
        while True:
            for index, event in enumerate(self.events):
                if match(event):
                    return self.events.pop(index)
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"Chromium gave no {what} (exit code {self.proc.poll()})")
            self._read(left)

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self._in], [], [], timeout)
        if not ready:
            return
        data = os.read(self._in, 1 << 16)
        if not data:
            raise AssertionError(f"Chromium closed the protocol pipe (exit {self.proc.wait(5)})")
        self._buffer += data
        *messages, self._buffer = self._buffer.split(b"\0")
        self.events.extend(json.loads(m) for m in messages)

    def open(self, url: str) -> Tab:
        """A new tab on ``url``, with its console and script errors recorded from the start."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        tab = Tab(self, session)
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session)
        tab.navigate(url)
        return tab


class Tab:
    """One page: navigate, evaluate, click, and what went wrong in its console."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def send(self, method: str, **params: Any) -> Message:
        return self.browser.send(method, self.session, **params)

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.browser.wait(
            lambda m: (
                m.get("sessionId") == self.session and m.get("method") == "Page.loadEventFired"
            ),
            f"load event for {url}",
        )

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (DevTools' own evaluation: the page's CSP does
        not apply to it, as it does not to the console)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real left click (mouse events, as a user's) in the middle of the element."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                type=kind,
                x=box[0],
                y=box[1],
                button="left",
                clickCount=1,
            )

    @property
    def problems(self) -> list[Message]:
        """Uncaught script errors, console errors and warnings, and error log entries (CSP
        violations, failed loads) seen so far on this page."""
        self.evaluate("0")  # a round trip: events sent before its answer are read
        return [
            event
            for event in self.browser.events
            if event.get("sessionId") == self.session
            and _is_problem(event.get("method"), event.get("params", {}))
        ]


def _is_problem(method: str | None, params: Message) -> bool:
    if method == "Runtime.exceptionThrown":
        return True
    if method == "Runtime.consoleAPICalled":
        return params.get("type") in ("error", "warning", "assert")
    return method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning")


@contextlib.contextmanager
def start_chromium(directory: Path) -> Iterator[Browser]:
    """Headless Chromium with a fresh profile in ``directory``; killed when done."""
    binary = find_chromium()
    commands_read, commands_write = os.pipe()
    answers_read, answers_write = os.pipe()

    def pipe_fds() -> None:  # in the child: the protocol pipe on fds 3 and 4, as Chromium wants
        os.dup2(commands_read, 3)
        os.dup2(answers_write, 4)

    argv = [
        binary,
        "--headless",
        "--remote-debugging-pipe",
        f"--user-data-dir={directory}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-extensions",
        "--disable-background-networking",
        "--no-sandbox",  # the suite may run as root, where Chromium's sandbox refuses to start
        "about:blank",
    ]
    with open(directory / "chromium.log", "wb") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=log,
            pass_fds=(3, 4),
            preexec_fn=pipe_fds,  # noqa: PLW1509
        )
    os.close(commands_read)
    os.close(answers_write)
    browser = Browser(proc, commands_write, answers_read)
    try:
        yield browser
    finally:
        os.close(commands_write)
        os.close(answers_read)
        proc.kill()
        proc.wait(timeout=10)
