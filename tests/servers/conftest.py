"""Fixtures for the server tests: every behaviour runs in thread-pool and in inline mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.servers.helpers import running


@pytest.fixture(params=[pytest.param(4, id="threads"), pytest.param(0, id="inline")])
def serve(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``with serve(app, **options) as srv:`` in both thread-pool and inline mode."""

    def start(app: Any, **options: Any) -> Any:
        options.setdefault("threads", request.param)
        return running(app, **options)

    return start


@pytest.fixture(params=[pytest.param(2, id="threads"), pytest.param(0, id="inline")])
def fcgi_serve(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``with fcgi_serve(app, **options) as srv:``: the FastCGI server, threaded and inline."""
    from tests.servers.fastcgi_helpers import running as fcgi_running

    def start(app: Any, **options: Any) -> Any:
        options.setdefault("threads", request.param)
        return fcgi_running(app, **options)

    return start
