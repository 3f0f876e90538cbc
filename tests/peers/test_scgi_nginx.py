"""wsgikit's SCGI server behind a real nginx (``scgi_pass`` with the stock ``scgi_params``).

nginx's stock params send REQUEST_URI but neither SCRIPT_NAME nor PATH_INFO: the server derives
them, under ``script_name`` for the /mnt backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers.gateway_checks import (
    MountPoints,
    ThroughWebServer,
    check_get,
    nginx_params,
    port_of,
    root_and_mount,
    running_all,
)
from tests.peers.helpers import Peer, Starter
from wsgikit.servers.scgi import SCGIServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, SCGIServer]]:
    with running_all(root_and_mount(SCGIServer)) as servers:
        yield servers


@pytest.fixture(scope="module")
def site(nginx: Starter, backends: dict[str, SCGIServer]) -> Peer:
    params = nginx_params("scgi_params")
    root, mnt = port_of(backends["root"]), port_of(backends["mnt"])
    return nginx(
        f"""
        client_max_body_size 16m;
        location /scgi/ {{ include {params}; scgi_pass 127.0.0.1:{root}; }}
        location /mnt/ {{ include {params}; scgi_pass 127.0.0.1:{mnt}; }}
        """
    )


class TestThroughNginx(ThroughWebServer, MountPoints):
    prefix = "/scgi"  # without the option, PATH_INFO is the whole path


def test_nginx_saw_no_upstream_problems(site: Peer) -> None:
    check_get(site.url("/scgi"))
    log = site.log()
    problems = [line for line in log.splitlines() if "upstream" in line or "[error]" in line]
    assert not problems, log
