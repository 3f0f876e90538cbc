"""wsgikit's AJP13 server behind a real Apache httpd with mod_proxy_ajp.

/ajp/ leads to the validated gateway app at the root, /mnt/ to it with ``script_name="/mnt"``,
/secret/ to a server that wants a secret (/wrong/ sends it the wrong one, /setenv/ the old way,
``SetEnv AJP_SECRET``), /buffered/, /streamed/ and /inline/ to the wsgi.input contract app (the
body matrix every gateway runs, at AJP's own sizes) in the three body modes; a second httpd uses
64 KiB packets.
mod_proxy_ajp keeps its backend connections: the counting server shows requests sharing them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import pytest
import requests

from tests.body_client import (
    KB,
    Case,
    cases,
    check_answer,
    check_contract,
    matrix,
    post_contract,
    send,
)
from tests.body_contract import READERS, contract_app
from tests.peers.gateway_checks import (
    MountPoints,
    ThroughWebServer,
    check_get,
    check_large_post,
    counting,
    gateway_app,
    mount,
    port_of,
    root_and_mount,
    running_all,
)
from tests.peers.helpers import Peer, Starter
from wsgikit.servers.ajp import AJPServer

pytestmark = pytest.mark.integration

SECRET = "s3cret-of-the-test"


CountingAJPServer = counting(AJPServer)


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, AJPServer]]:
    servers = root_and_mount(CountingAJPServer)
    servers["secret"] = AJPServer(validator(gateway_app), ["127.0.0.1:0"], secret=SECRET)
    servers["big"] = AJPServer(validator(gateway_app), ["127.0.0.1:0"], max_packet_size=65536)
    for mode, options in BODY_MODES.items():
        servers[mode] = AJPServer(contract_app, ["127.0.0.1:0"], **options)
    with running_all(servers):
        yield servers


# The body matrix runs against each; a streamed chunked body has no length to read at once.
BODY_MODES = {
    "buffered": {"threads": 4},
    "streamed": {"threads": 4, "buffer_bodies": False},
    "inline": {"threads": 0},
}


@pytest.fixture(scope="module")
def site(apache: Starter, backends: dict[str, AJPServer]) -> Peer:
    port = {name: port_of(server) for name, server in backends.items()}
    bodies = "\n".join(
        f'ProxyPass "/{mode}/" "ajp://127.0.0.1:{port[mode]}/{mode}/"' for mode in BODY_MODES
    )
    config = f"""
LimitRequestBody 0
ProxyPass "/ajp/" "ajp://127.0.0.1:{port["root"]}/ajp/" ping=2 flushpackets=on
ProxyPass "/mnt/" "ajp://127.0.0.1:{port["mnt"]}/mnt/"
ProxyPass "/secret/" "ajp://127.0.0.1:{port["secret"]}/secret/" secret={SECRET}
ProxyPass "/wrong/" "ajp://127.0.0.1:{port["secret"]}/wrong/" secret=not-{SECRET}
ProxyPass "/nosecret/" "ajp://127.0.0.1:{port["secret"]}/nosecret/"
ProxyPass "/setenv/" "ajp://127.0.0.1:{port["secret"]}/setenv/"
<Location "/setenv/">
    SetEnv AJP_SECRET {SECRET}
    SetEnv AJP_TENANT blue
</Location>
{bodies}
"""
    return apache(config, modules=["proxy", "proxy_ajp", "env"])


@pytest.fixture(scope="module")
def big_site(apache: Starter, backends: dict[str, AJPServer]) -> Peer:
    """httpd with 64 KiB AJP packets (ProxyIOBufferSize), as the "big" server's."""
    config = f"""
ProxyIOBufferSize 65536
ProxyPass "/ajp/" "ajp://127.0.0.1:{port_of(backends["big"])}/ajp/"
"""
    return apache(config, modules=["proxy", "proxy_ajp"])


class TestThroughApache(ThroughWebServer, MountPoints):
    prefix = "/ajp"


def test_environ_from_the_forward_request(site: Peer) -> None:
    environ = requests.get(
        site.url("/ajp/p%20q/env?z=1"), headers={"X-Thing": "a"}, timeout=10
    ).json()
    assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == ("/ajp/p q/env", "z=1")
    assert environ["HTTP_X_THING"] == "a"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["REMOTE_PORT"].isdigit()
    assert environ["SERVER_PORT"] == str(site.port)
    assert environ["wsgi.url_scheme"] == "http"


def test_head_has_headers_and_no_body(site: Peer) -> None:
    response = requests.head(site.url("/ajp/x/env"), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.content == b""


def test_connections_are_reused(site: Peer, backends: dict[str, CountingAJPServer]) -> None:
    before = backends["root"].accepted
    with requests.Session() as session:  # one client connection: one Apache worker
        for _ in range(12):
            assert session.get(site.url("/ajp/x/env"), timeout=10).status_code == 200
    assert backends["root"].accepted - before <= 1


def test_the_right_secret_reaches_the_app(site: Peer) -> None:
    assert mount(site.url("/secret/x/env")) == ("", "/secret/x/env")


@pytest.mark.parametrize("prefix", ["/wrong", "/nosecret"])
def test_a_missing_or_wrong_secret_is_refused(
    site: Peer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "wsgikit.error"):
        response = requests.get(site.url(f"{prefix}/x/env"), timeout=10)
    assert response.status_code == 403
    assert "AJP secret" in caplog.text


def test_setenv_secret_and_ajp_variables(site: Peer) -> None:
    environ = requests.get(site.url("/setenv/x/env"), timeout=10).json()
    assert environ["AJP_TENANT"] == "blue"
    assert "AJP_SECRET" not in environ and "SECRET" not in environ


def test_empty_post(site: Peer) -> None:
    got = requests.post(site.url("/ajp/echo"), data=b"", timeout=10).json()
    assert (got["length"], got["content_length"]) == (0, "0")


def test_64k_packets_both_ways(big_site: Peer) -> None:
    check_large_post(big_site.url("/ajp"))
    check_get(big_site.url("/ajp"))


def test_apache_logged_no_proxy_errors(site: Peer, big_site: Peer) -> None:
    check_get(site.url("/ajp"))
    for peer in (site, big_site):
        problems = [line for line in peer.log().splitlines() if ":error]" in line]
        assert not problems, peer.log()


# -- the wsgi.input contract and the body matrix: bodies buffered, streamed, inline -------------


@pytest.mark.parametrize("prefix", list(BODY_MODES))
@pytest.mark.parametrize("mode", list(READERS))
def test_contract(site: Peer, prefix: str, mode: str) -> None:
    check_contract(post_contract("127.0.0.1", site.port, mode, f"/{prefix}"), mode)


def ajp_cases(mode: str) -> list[Any]:
    """The body matrix at the sizes that matter to AJP: one packet, mod_proxy_ajp's body packet
    boundary (8186 bytes of body in a default 8192-byte packet, AJP13_MAX_SEND_BODY_SZ), past
    1 MiB (a buffered body moves to a temporary file), and 20 MB; one Expect case (httpd
    answers 100-continue itself)."""
    return cases(sizes=AJP_SIZES, expect_once=True, one_read=mode != "streamed")


AJP_SIZES = [1 * KB, 8186, 8187, (1 << 20) + 1]


@pytest.mark.parametrize(("prefix", "case"), matrix({mode: ajp_cases(mode) for mode in BODY_MODES}))
def test_body(site: Peer, prefix: str, case: Case) -> None:
    check_answer(send("127.0.0.1", site.port, case, f"/{prefix}"), case)
