"""The rule for tests that need a real peer (nginx, Apache, redis-server, ...): skip with the reason
when it is missing, fail instead when WSGIKIT_REQUIRE_INTEGRATION=1 (set by .ci/run)."""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest

REQUIRE = "WSGIKIT_REQUIRE_INTEGRATION"


def missing(reason: str) -> NoReturn:
    """Skip: a peer is not installed; fail instead when the integration tests are required."""
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{reason} ({REQUIRE}=1: integration tests must run)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (a peer that loses the race fails its start)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
