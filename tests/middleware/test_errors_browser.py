"""ErrorMiddleware's debug page opened in headless Chromium (``wsgikit serve`` on a free port):
frames fold and unfold on a click, the console stays clean, and the page's data (an exception
message, locals, the request path and query, all full of markup) never runs as markup."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest

from tests.browser import Browser, Tab, start_chromium
from tests.middleware.errors_browser_app import PAYLOADS
from tests.peers.helpers import Peer, run_wsgikit

pytestmark = pytest.mark.integration

QUERY = urllib.parse.urlencode({"q": PAYLOADS[0], "next": PAYLOADS[3]})
PATH = "/search/" + urllib.parse.quote(PAYLOADS[1], safe="")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    directory = tmp_path_factory.mktemp("debug-page")
    with run_wsgikit(directory, "serve", "tests.middleware.errors_browser_app:app") as peer:
        yield peer


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with start_chromium(tmp_path_factory.mktemp("chromium-profile")) as chromium:
        yield chromium


@pytest.fixture
def tab(browser: Browser, server: Peer) -> Tab:
    return browser.open(server.url(f"{PATH}?{QUERY}"))


def frames_open(tab: Tab) -> list[bool]:
    return tab.evaluate("[...document.querySelectorAll('li.frame > details')].map(d => d.open)")


def test_page_is_the_debug_page(tab: Tab) -> None:
    assert tab.evaluate("document.querySelector('h1').textContent").startswith("ValueError: bad")
    assert len(frames_open(tab)) >= 3


def test_a_closed_frame_opens_on_click_and_shows_its_source(tab: Tab) -> None:
    before = frames_open(tab)
    closed = before.index(False)
    source = f"document.querySelectorAll('li.frame > details')[{closed}].querySelector('ol')"
    assert tab.evaluate(f"{source}.checkVisibility()") is False  # folded: the source is hidden
    tab.click(f"li.frame:nth-child({closed + 1}) > details > summary")
    after = frames_open(tab)
    assert after == [opened or index == closed for index, opened in enumerate(before)]
    assert tab.evaluate(f"{source}.checkVisibility()") is True


def test_an_open_frame_closes_on_click(tab: Tab) -> None:
    before = frames_open(tab)
    last = len(before) - 1
    assert before[last]  # the frame that raised starts open
    tab.click(f"li.frame:nth-child({last + 1}) > details > summary")
    assert frames_open(tab)[last] is False


def test_long_values_wrap_instead_of_widening_the_page(browser: Browser, server: Peer) -> None:
    tab = browser.open("about:blank")
    tab.send(
        "Emulation.setDeviceMetricsOverride",
        width=800,
        height=600,
        deviceScaleFactor=1,
        mobile=False,
    )
    tab.navigate(server.url(f"{PATH}?{QUERY}&token={'x' * 300}"))  # long words: no break points
    assert tab.evaluate("document.documentElement.scrollWidth") <= 800


def test_no_script_errors_or_console_errors(tab: Tab, server: Peer) -> None:
    own_status = {"source": "network", "url": server.url(f"{PATH}?{QUERY}")}
    # Chromium logs the page's own 500 status as a failed load: that one is the point of the page.
    problems = [
        p for p in tab.problems if not own_status.items() <= p["params"].get("entry", {}).items()
    ]
    assert problems == []


def test_page_data_never_runs_as_markup(tab: Tab) -> None:
    assert tab.evaluate("typeof window.pwned") == "undefined"
    assert tab.evaluate("document.title").startswith("500 Internal Server Error: ValueError")
    assert tab.evaluate("document.querySelectorAll('script, img, svg, iframe').length") == 0
    text = tab.evaluate("document.body.innerText")
    for payload in PAYLOADS:  # each shown as text: in the message, a local, the path or query
        assert payload in text
