"""Fixtures for the server tests: every behaviour runs in thread-pool and in inline mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.servers.helpers import running
from tests.servers.tls_helpers import Certs, make_certs, tls_running


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


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA, server and client certificates (openssl CLI), made once per session."""
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(params=[pytest.param(4, id="threads"), pytest.param(0, id="inline")])
def serve_tls(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``with serve_tls(app, certs, **options) as srv:`` with TLS, thread-pool and inline."""

    def start(app: Any, certs: Certs, **options: Any) -> Any:
        options.setdefault("threads", request.param)
        return tls_running(app, certs, **options)

    return start
