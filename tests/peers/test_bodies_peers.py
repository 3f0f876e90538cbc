"""Request bodies through real front ends: the wsgi.input contract and the body matrix.

nginx -> FastCGI and SCGI, Apache mod_proxy_fcgi -> FastCGI, Apache mod_cgi -> ``wsgikit cgi``,
and libfcgi's ``cgi-fcgi`` -> FastCGI, each serving tests/body_contract.py's app (unvalidated:
wsgiref.validate refuses ``read()`` without a size, which the contract checks). The FastCGI and
SCGI servers run in this process; the CGI script loads a copy of the app module as www-data.
Where a front end reads a chunked body whole and sends CONTENT_LENGTH (nginx), the app reads it
like any other; the assertions are on what the app read.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.body_client import (
    Answer,
    Case,
    cases,
    check_answer,
    check_contract,
    matrix,
    post_contract,
    send,
)
from tests.body_contract import READERS, contract_app, lines_body
from tests.peers.gateway_checks import nginx_params, port_of, running_all
from tests.peers.helpers import ROOT, Peer, Starter, find_program, make_readable
from wsgikit.servers._loop import EventServer
from wsgikit.servers.fastcgi import FastCGIServer
from wsgikit.servers.scgi import SCGIServer

pytestmark = pytest.mark.integration


@dataclass
class Front:
    """A web server location that leads to the contract app."""

    host: str
    port: int
    prefix: str


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, EventServer]]:
    servers: dict[str, EventServer] = {
        "fcgi": FastCGIServer(contract_app, ["127.0.0.1:0"], threads=4),
        "scgi": SCGIServer(contract_app, ["127.0.0.1:0"], threads=4),
    }
    with running_all(servers):
        yield servers


@pytest.fixture(scope="module")
def nginx_site(nginx: Starter, backends: dict[str, EventServer]) -> Peer:
    fcgi, scgi = port_of(backends["fcgi"]), port_of(backends["scgi"])
    fastcgi_params, scgi_params = nginx_params("fastcgi_params"), nginx_params("scgi_params")
    return nginx(
        f"""
        client_max_body_size 32m;
        location /fcgi/ {{ include {fastcgi_params}; fastcgi_pass 127.0.0.1:{fcgi}; }}
        location /scgi/ {{ include {scgi_params}; scgi_pass 127.0.0.1:{scgi}; }}
        """
    )


@pytest.fixture(scope="module")
def apache_site(
    apache: Starter, backends: dict[str, EventServer], www_venv: Path, peer_root: Path
) -> Peer:
    folder = peer_root / "bodies-cgi"
    folder.mkdir(mode=0o755)
    shutil.copy(ROOT / "tests" / "body_contract.py", folder / "body_contract.py")
    script = folder / "app.cgi"
    script.write_text(
        "#!/bin/sh\n"
        f"exec {www_venv}/bin/wsgikit cgi body_contract:contract_app --chdir {str(folder)!r}\n"
    )
    script.chmod(0o755)
    make_readable(folder)
    config = f"""
ProxyPass "/fcgi/" "fcgi://127.0.0.1:{port_of(backends["fcgi"])}/" enablereuse=on
ScriptAlias /cgi "{script}"
<Directory "{folder}">
    Options +ExecCGI
    Require all granted
</Directory>
"""
    return apache(config, modules=["proxy", "proxy_fcgi", "alias", "cgi"])


FRONTS = {
    "nginx-fcgi": ("nginx_site", "/fcgi"),
    "nginx-scgi": ("nginx_site", "/scgi"),
    "apache-fcgi": ("apache_site", "/fcgi"),
    "apache-cgi": ("apache_site", "/cgi"),
}


@pytest.fixture(scope="module")
def front(request: pytest.FixtureRequest) -> Front:
    site_fixture, prefix = FRONTS[request.param]
    site: Peer = request.getfixturevalue(site_fixture)
    return Front("127.0.0.1", site.port, prefix)


@pytest.mark.parametrize("front", list(FRONTS), indirect=True)
@pytest.mark.parametrize("mode", list(READERS))
def test_contract(front: Front, mode: str) -> None:
    check_contract(post_contract(front.host, front.port, mode, front.prefix), mode)


# mod_cgi starts a script a request (about 0.7 s each); httpd answers 100-continue itself before
# the script reads a byte, so Expect is one case there, not a dimension of the matrix.
MATRIX = matrix({name: cases(expect_once=name == "apache-cgi") for name in FRONTS})


@pytest.mark.parametrize(("front", "case"), MATRIX, indirect=["front"])
def test_body(front: Front, case: Case) -> None:
    check_answer(send(front.host, front.port, case, front.prefix), case)


# -- cgi-fcgi: a CGI program's stdin and environment become the FastCGI request -------------------


@pytest.fixture(scope="module")
def cgi_fcgi() -> str:
    return find_program("cgi-fcgi")


def cgi_fcgi_post(cgi_fcgi: str, address: str, query: str, body: bytes) -> Answer:
    env = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "/bodies",
        "QUERY_STRING": query,
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "example.org",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.7",
    }
    argv = [cgi_fcgi, "-bind", "-connect", address]
    proc = subprocess.run(argv, env=env, input=body, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    head, _, content = proc.stdout.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]  # RFC 3875 §6.3.3: "Status: 200 OK"
    return Answer(int(status.split()[1]), {}, content)


@pytest.fixture(scope="module")
def fcgi_address(backends: dict[str, EventServer]) -> str:
    return f"127.0.0.1:{port_of(backends['fcgi'])}"


@pytest.mark.parametrize("mode", list(READERS))
def test_contract_cgi_fcgi(cgi_fcgi: str, fcgi_address: str, mode: str) -> None:
    check_contract(cgi_fcgi_post(cgi_fcgi, fcgi_address, f"mode={mode}", lines_body()), mode)


@pytest.mark.parametrize("case", cases(chunked=False, expect=False))
def test_body_cgi_fcgi(cgi_fcgi: str, fcgi_address: str, case: Case) -> None:
    check_answer(cgi_fcgi_post(cgi_fcgi, fcgi_address, f"mode={case.reader}", case.body), case)
