"""`wsgikit serve` (defaults: X-Forwarded-For/-Proto believed from 127.0.0.1) behind real nginx.

The client connects from 127.0.0.2 (all of 127/8 is loopback on Linux), so the address nginx
forwards differs from nginx's own; the direct requests from 127.0.0.2 are the spoofing ones.
"""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.integration import free_port
from tests.peers.helpers import Peer, Starter, running
from wsgikit.middleware import SessionMiddleware
from wsgikit.types import StartResponse, WSGIEnvironment

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLIENT = "127.0.0.2"
SPOOF = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "Host": "a"}


def _echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    environ["wsgikit.session"]["seen"] = True  # a session cookie, Secure only over https
    keys = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_X_FORWARDED_FOR")
    body = json.dumps({key: environ.get(key) for key in keys}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


app = SessionMiddleware(_echo, secret="0123456789abcdef0123456789abcdef")


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    directory = tmp_path_factory.mktemp("wsgikit-serve")
    peer = Peer("wsgikit serve", free_port(), directory, directory / "console.log")
    argv = [sys.executable, "-m", "wsgikit", "serve", f"{__name__}:app", "--pythonpath", str(ROOT)]
    with running(peer, [*argv, "--bind", f"127.0.0.1:{peer.port}", "--threads", "2"]):
        yield peer


@pytest.fixture(scope="module")
def site(nginx: Starter, backend: Peer) -> Peer:
    # As a TLS-terminating nginx would: the scheme it was reached by, the address it saw.
    return nginx(
        f"""
        location / {{
            proxy_pass http://127.0.0.1:{backend.port};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }}
        """
    )


def get(port: int) -> tuple[dict[str, str | None], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(CLIENT, 0))
    try:
        conn.request("GET", "/", headers=SPOOF)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, body
        return json.loads(body), response.getheader("Set-Cookie") or ""
    finally:
        conn.close()


def secure(cookie: str) -> bool:
    return "secure" in [attribute.strip().lower() for attribute in cookie.split(";")]


def test_through_nginx_the_app_sees_the_client_and_https(site: Peer) -> None:
    env, cookie = get(site.port)
    assert (env["REMOTE_ADDR"], env["wsgi.url_scheme"]) == (CLIENT, "https")
    assert env["HTTP_X_FORWARDED_FOR"] == f"6.6.6.6, {CLIENT}"  # believed: kept for the app
    assert secure(cookie)


def test_spoofing_the_backend_directly_changes_nothing(backend: Peer) -> None:
    env, cookie = get(backend.port)
    assert env == {"REMOTE_ADDR": CLIENT, "wsgi.url_scheme": "http", "HTTP_X_FORWARDED_FOR": None}
    assert not secure(cookie)
