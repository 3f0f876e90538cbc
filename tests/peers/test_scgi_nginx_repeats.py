"""wsgikit's SCGI server behind nginx when ``scgi_param`` repeats a name the stock params set.

Debian's stock ``scgi_params`` send ``HTTP_HOST $host`` (no port); sites that need the port add
``scgi_param HTTP_HOST $http_host``, and nginx then sends HTTP_HOST twice in the netstring. The
server takes the last value, as nginx and Apache mean it for FastCGI, and logs it at DEBUG.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from wsgiref.validate import validator

import pytest
import requests

from tests.peers.gateway_checks import gateway_app, nginx_params, port_of, running_all
from tests.peers.helpers import Peer, Starter
from wsgikit.servers.scgi import SCGIServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backend() -> Iterator[SCGIServer]:
    server = SCGIServer(validator(gateway_app), ["127.0.0.1:0"], threads=2)
    with running_all({"root": server}):
        yield server


@pytest.fixture(scope="module")
def site(nginx: Starter, backend: SCGIServer) -> Peer:
    params = nginx_params("scgi_params")
    return nginx(
        f"""
        location / {{
            include {params};
            scgi_param HTTP_HOST $host;  # what Debian's stock file sends, for other systems too
            scgi_param HTTP_HOST $http_host;
            scgi_pass 127.0.0.1:{port_of(backend)};
        }}
        """
    )


def test_the_last_http_host_reaches_the_app(site: Peer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, "wsgikit.error"):
        response = requests.get(site.url("/env"), headers={"Host": "example.test:8123"}, timeout=10)
    assert response.status_code == 200, site.log()
    assert response.json()["HTTP_HOST"] == "example.test:8123"
    assert "sent more than once, the last value wins: HTTP_HOST" in caplog.text
