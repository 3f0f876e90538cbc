"""Shared fixtures: a fresh request environ and a small correct app."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from hypothesis import settings

from wsgikit.testing import make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

# CI must not fail by chance: there, examples are derived from the test (same every run) and no
# per-example deadline applies (the machine is shared). Locally, hypothesis explores freely.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _wsgikit_logging_restored() -> Iterator[None]:
    """The wsgikit loggers as they were before the test. A test that runs the command line in
    its own process configures them with a handler on that test's captured stderr; a later
    test's server thread then logged into the closed file ("--- Logging error ---")."""
    loggers = [logging.getLogger(name) for name in ("wsgikit", "wsgikit.access")]
    saved = [(logger, logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture
def environ() -> dict[str, Any]:
    """A complete GET / environ from wsgikit.testing.make_environ()."""
    return make_environ()


@pytest.fixture
def hello_app() -> WSGIApplication:
    """A correct app: 200, text/plain, Content-Length 5, body b"hello"."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"hello"]

    return app
