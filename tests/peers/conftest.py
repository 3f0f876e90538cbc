"""Fixtures that start real peers: Apache httpd, nginx, and a venv that www-data can run.

``apache(config, modules=[...])`` and ``nginx(server_block, http=...)`` start a server for the
test module (stopped when the module is done); each gets its own directory under ``peer_root``,
a world-readable temp dir, since a server started as root serves as www-data::

    @pytest.fixture(scope="module")
    def site(nginx: Starter) -> Peer:
        return nginx("location / { fastcgi_pass 127.0.0.1:9000; include fastcgi_params; }")
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.helpers import (
    Peer,
    Starter,
    build_venv,
    start_apache,
    start_nginx,
    world_readable_dir,
)

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def peer_root() -> Iterator[Path]:
    """A world-readable temp dir for this test session's servers, apps and venv."""
    path = world_readable_dir("wsgikit-peers-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _fresh(root: Path, name: str) -> Path:
    path = root / f"{name}-{next(_numbers)}"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def apache(peer_root: Path) -> Iterator[Starter]:
    """``apache(config, modules=("cgi",), log_level="info")``: a started Apache httpd."""
    with contextlib.ExitStack() as stack:

        def start(config: str, **options: Any) -> Peer:
            directory = _fresh(peer_root, "apache")
            return stack.enter_context(start_apache(directory, config, **options))

        yield start


@pytest.fixture(scope="module")
def nginx(peer_root: Path) -> Iterator[Starter]:
    """``nginx(server_block, http="")``: a started nginx (``stream=True``: a stream block)."""
    with contextlib.ExitStack() as stack:

        def start(server: str, **options: Any) -> Peer:
            directory = _fresh(peer_root, "nginx")
            return stack.enter_context(start_nginx(directory, server, **options))

        yield start


@pytest.fixture(scope="session")
def www_venv(peer_root: Path) -> Path:
    """A venv made with Debian's /usr/bin/python3 holding this checkout, readable by www-data."""
    return build_venv(_fresh(peer_root, "venv"))
