"""The peer fixtures themselves: each server starts, serves, logs, and a missing one skips."""

from __future__ import annotations

import pytest
import requests

from tests.peers.helpers import Peer, Starter, find_program, missing


def test_missing_peer_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WSGIKIT_REQUIRE_INTEGRATION", raising=False)
    with pytest.raises(pytest.skip.Exception, match="frobd is not installed"):
        missing("frobd is not installed")


def test_missing_peer_fails_when_integration_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSGIKIT_REQUIRE_INTEGRATION", "1")
    with pytest.raises(pytest.fail.Exception, match="frobd is not installed"):
        missing("frobd is not installed")


def test_find_program_reports_the_first_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WSGIKIT_REQUIRE_INTEGRATION", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-httpd is not installed"):
        find_program("no-such-httpd", "no-such-httpd2")


@pytest.mark.integration
def test_nginx_fixture_serves_the_server_block(nginx: Starter) -> None:
    peer: Peer = nginx('location /hello { return 200 "hello from nginx\\n"; }')
    response = requests.get(peer.url("/hello"), timeout=10)
    assert (response.status_code, response.text) == (200, "hello from nginx\n")


@pytest.mark.integration
def test_apache_fixture_serves_the_config(apache: Starter) -> None:
    peer: Peer = apache("<Location /hello.txt>\n    Require all granted\n</Location>")
    page = peer.directory / "htdocs" / "hello.txt"
    page.write_text("hello from apache\n")
    page.chmod(0o644)
    response = requests.get(peer.url("/hello.txt"), timeout=10)
    assert (response.status_code, response.text) == (200, "hello from apache\n")
    assert "resuming normal operations" in peer.log()
