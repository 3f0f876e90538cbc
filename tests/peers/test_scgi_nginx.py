"""wsgikit's SCGI server behind a real nginx (``scgi_pass`` with the stock ``scgi_params``).

nginx's stock params send REQUEST_URI but neither SCRIPT_NAME nor PATH_INFO: the server derives
them, under ``script_name`` for the /mnt backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.peers.gateway_checks import (
    check_app_error,
    check_chunked_upload,
    check_get,
    check_large_post,
    check_streamed_response,
    mount,
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


def test_get(site: Peer) -> None:
    check_get(site.url("/scgi"))


def test_post_large_body(site: Peer) -> None:
    check_large_post(site.url("/scgi"))


def test_chunked_upload_arrives_with_content_length(site: Peer) -> None:
    check_chunked_upload(site.url("/scgi"))


def test_streamed_response(site: Peer) -> None:
    check_streamed_response(site.url("/scgi"))


def test_app_error(site: Peer, caplog: pytest.LogCaptureFixture) -> None:
    check_app_error(site.url("/scgi"), caplog)


def test_script_name_option_mounts_the_app(site: Peer) -> None:
    assert mount(site.url("/mnt/a%20b/env")) == ("/mnt", "/a b/env")


def test_without_the_option_path_info_is_the_whole_path(site: Peer) -> None:
    assert mount(site.url("/scgi/x/env")) == ("", "/scgi/x/env")


def test_request_uri_is_kept(site: Peer) -> None:
    environ = requests.get(site.url("/scgi/p%20q/env?z=1"), timeout=10).json()
    assert environ["REQUEST_URI"] == "/scgi/p%20q/env?z=1"


def test_nginx_saw_no_upstream_problems(site: Peer) -> None:
    check_get(site.url("/scgi"))
    log = site.log()
    problems = [line for line in log.splitlines() if "upstream" in line or "[error]" in line]
    assert not problems, log
