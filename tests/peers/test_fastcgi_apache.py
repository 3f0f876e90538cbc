"""wsgikit's FastCGI server behind a real Apache httpd with mod_proxy_fcgi.

``enablereuse=on`` makes Apache send FCGI_KEEP_CONN and pool its connections. mod_proxy_fcgi,
like nginx's stock params, sends the whole path as SCRIPT_NAME and no PATH_INFO; /mnt uses the
``script_name`` option, /split the Apache config the fastcgi module's docstring documents.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers.gateway_checks import (
    CountingServer,
    MountPoints,
    ThroughWebServer,
    check_get,
    mount,
    port_of,
    root_and_mount,
    running_all,
)
from tests.peers.helpers import Peer, Starter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, CountingServer]]:
    with running_all(root_and_mount(CountingServer)) as servers:
        yield servers


@pytest.fixture(scope="module")
def site(apache: Starter, backends: dict[str, CountingServer]) -> Peer:
    root, mnt = port_of(backends["root"]), port_of(backends["mnt"])
    config = f"""
SetEnvIf Request_URI "^/split/" proxy-fcgi-pathinfo=unescape
ProxyPass "/fcgi/" "fcgi://127.0.0.1:{root}/" enablereuse=on flushpackets=on
ProxyPass "/split/" "fcgi://127.0.0.1:{root}/" enablereuse=on flushpackets=on
ProxyPass "/mnt/" "fcgi://127.0.0.1:{mnt}/"
<Location "/split/">
    ProxyFCGISetEnvIf "true" SCRIPT_NAME "/split"
</Location>
"""
    return apache(config, modules=["proxy", "proxy_fcgi", "setenvif"])


class TestThroughApache(ThroughWebServer, MountPoints):
    prefix = "/fcgi"


def test_enablereuse_keeps_connections(site: Peer, backends: dict[str, CountingServer]) -> None:
    before = backends["root"].accepted
    for _ in range(12):
        check_get(site.url("/fcgi"))
    assert backends["root"].accepted - before < 12  # pooled per Apache process, not per request


def test_documented_config_needs_no_option(site: Peer) -> None:
    assert mount(site.url("/split/a%20b/env")) == ("/split", "/a b/env")


def test_apache_logged_no_proxy_errors(site: Peer) -> None:
    check_get(site.url("/fcgi"))
    problems = [line for line in site.log().splitlines() if ":error]" in line]
    assert not problems, site.log()
