"""``wsgikit cgi`` behind a real Apache mod_cgi, serving the mod_wsgi example's stack.

Apache runs ``app.cgi`` (a shell script exec'ing the venv's ``wsgikit cgi SPEC``) for each request
under the ``/app`` prefix, as www-data when the tests run as root.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from pathlib import Path

import pytest
import requests

from tests.peers.helpers import ROOT, Peer, Starter, make_readable, read_stream

pytestmark = pytest.mark.integration

EXAMPLE = ROOT / "examples" / "mod_wsgi" / "app.wsgi"


@pytest.fixture(scope="module")
def site(apache: Starter, www_venv: Path, peer_root: Path) -> Peer:
    folder = peer_root / "cgi-site"
    folder.mkdir(mode=0o755)
    (folder / "wsgikit_example.py").write_text(EXAMPLE.read_text())
    (folder / "secret.key").write_text(os.urandom(32).hex())
    script = folder / "app.cgi"
    script.write_text(
        "#!/bin/sh\n"
        f"exec {www_venv}/bin/wsgikit cgi wsgikit_example:application --chdir {str(folder)!r}\n"
    )
    script.chmod(0o755)
    make_readable(folder)
    config = f"""
ScriptAlias /app "{script}"
<Directory "{folder}">
    Options +ExecCGI
    Require all granted
</Directory>
"""
    return apache(config, modules=["alias", "cgi"])


def test_get(site: Peer) -> None:
    response = requests.get(site.url("/app/"), timeout=20)
    assert response.status_code == 200
    # Not Content-Length: Apache drops a CGI script's and chunks the body itself.
    assert response.text.startswith("Hello from wsgikit")


def test_script_name_and_path_info_under_the_prefix(site: Peer) -> None:
    info = requests.get(site.url("/app/api/info?x=1"), timeout=20).json()
    assert (info["script_name"], info["path_info"], info["query_string"]) == (
        "/app/api",
        "/info",
        "x=1",
    )


def test_cgi_environ_flags(site: Peer) -> None:
    info = requests.get(site.url("/app/api/info"), timeout=20).json()
    assert (info["run_once"], info["multiprocess"], info["multithread"]) == (True, True, False)


def test_script_runs_as_www_data(site: Peer) -> None:
    # Apache started as root runs scripts as www-data; started by a user, as that user.
    user = "www-data" if os.geteuid() == 0 else getpass.getuser()
    assert requests.get(site.url("/app/api/info"), timeout=20).json()["user"] == user


def test_post_large_body(site: Peer) -> None:
    body = os.urandom(4 * 1024 * 1024)
    response = requests.post(site.url("/app/api/echo"), data=body, timeout=30)
    assert response.json() == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_streamed_response(site: Peer) -> None:
    # The app sleeps 0.3 s between ticks: streamed, the first tick arrives 0.6 s before the
    # end; buffered by anyone on the way, everything arrives at once.
    pieces = read_stream(site.url("/app/api/ticks?n=3&interval=0.3"))
    assert b"".join(chunk for _, chunk in pieces) == b"tick 0\ntick 1\ntick 2\n"
    assert pieces[-1][0] - pieces[0][0] >= 0.4


def test_missing_page_gets_the_error_document(site: Peer) -> None:
    response = requests.get(site.url("/app/nowhere"), timeout=20)
    assert (response.status_code, response.text) == (
        404,
        "Nothing here. The home page is one level up.\n",
    )


def test_app_error_is_500_with_the_traceback_in_apaches_log(site: Peer) -> None:
    response = requests.get(site.url("/app/api/fail"), timeout=20)
    assert response.status_code == 500
    assert "fails on purpose" not in response.text
    assert "Traceback" not in response.text
    log = site.wait_for_log("RuntimeError: the /api/fail route fails on purpose")
    assert "RuntimeError: the /api/fail route fails on purpose" in log
    assert "Traceback (most recent call last)" in log
