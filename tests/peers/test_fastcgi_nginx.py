"""wsgikit's FastCGI server behind a real nginx: ``fastcgi_keep_conn`` on and off, mount points.

The FastCGI servers run in this process (threads, bound on free ports or a unix socket); nginx
runs from the peer fixtures. The app (tests/peers/gateway_checks.py, shared by every gateway
peer test) is wrapped in wsgiref.validate on the server side. Keep-conn is checked by counting
the connections the server accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from wsgiref.validate import validator

import pytest
import requests

from tests.peers.gateway_checks import (
    CountingServer,
    MountPoints,
    ThroughWebServer,
    check_get,
    gateway_app,
    mount,
    nginx_params,
    port_of,
    running_all,
)
from tests.peers.helpers import Peer, Starter

pytestmark = pytest.mark.integration


# -- nginx → FastCGI ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backends(peer_root: Path) -> Iterator[dict[str, CountingServer]]:
    app = validator(gateway_app)
    sock = peer_root / "fastcgi.sock"
    servers = {
        "keep": CountingServer(app, ["127.0.0.1:0"], threads=4),
        "close": CountingServer(app, ["127.0.0.1:0"], threads=4),
        "mnt": CountingServer(app, ["127.0.0.1:0"], threads=4, script_name="/mnt"),
        "unix": CountingServer(app, [f"unix:{sock}"], threads=4, unix_mode=0o666),
    }
    with running_all(servers):
        yield servers


@pytest.fixture(scope="module")
def site(nginx: Starter, backends: dict[str, CountingServer], peer_root: Path) -> Peer:
    keep, close, mnt = (port_of(backends[name]) for name in ("keep", "close", "mnt"))
    sock = peer_root / "fastcgi.sock"
    params = nginx_params("fastcgi_params")
    http = f"upstream keep {{ server 127.0.0.1:{keep}; keepalive 4; }}"
    server = f"""
        client_max_body_size 16m;
        location /keep/ {{ include {params}; fastcgi_pass keep; fastcgi_keep_conn on; }}
        location /close/ {{ include {params}; fastcgi_pass 127.0.0.1:{close}; }}
        location /mnt/ {{ include {params}; fastcgi_pass 127.0.0.1:{mnt}; }}
        location /unix/ {{ include {params}; fastcgi_pass unix:{sock}; }}
        location /split/ {{
            include {params};
            fastcgi_split_path_info ^(/split)(/.*)$;
            fastcgi_param SCRIPT_NAME $fastcgi_script_name;
            fastcgi_param PATH_INFO $fastcgi_path_info;
            fastcgi_pass keep;
            fastcgi_keep_conn on;
        }}
    """
    return nginx(server, http=http)


class TestKeepConnOn(ThroughWebServer, MountPoints):
    prefix = "/keep"


class TestKeepConnOff(ThroughWebServer):
    prefix = "/close"


def test_keep_conn_on_reuses_one_connection(
    site: Peer, backends: dict[str, CountingServer]
) -> None:
    check_get(site.url("/keep"))  # nginx now holds an idle connection
    before = backends["keep"].accepted
    for _ in range(5):
        check_get(site.url("/keep"))
    assert backends["keep"].accepted == before


def test_keep_conn_off_closes_each_connection(
    site: Peer, backends: dict[str, CountingServer]
) -> None:
    before = backends["close"].accepted
    for _ in range(3):
        check_get(site.url("/close"))
    assert backends["close"].accepted == before + 3


def test_unix_socket_bind(site: Peer) -> None:
    check_get(site.url("/unix"))


def test_documented_split_config_needs_no_option(site: Peer) -> None:
    assert mount(site.url("/split/a%20b/env")) == ("/split", "/a b/env")


def test_server_name_and_scheme(site: Peer) -> None:
    environ = requests.get(site.url("/keep/p%20q/env?z=1"), timeout=10).json()
    assert environ["SERVER_NAME"] == "localhost"
    assert environ["wsgi.url_scheme"] == "http"


def test_nginx_saw_no_upstream_problems(site: Peer) -> None:
    check_get(site.url("/keep"))
    log = site.log()
    problems = [line for line in log.splitlines() if "upstream" in line or "[error]" in line]
    assert not problems, log
