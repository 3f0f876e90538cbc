"""Request bodies over TLS: the wsgi.input contract and the body matrix (Content-Length and
chunked, Expect: 100-continue, 1 KB to 20 MB sent in uneven pieces) through the HTTP server with
TLS, threads and inline. What arrives comes out of OpenSSL's records, never straight from the
kernel, so this checks reads, 100-continue and big bodies through the TLS socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.body_client import Case, cases, check_answer, check_contract, matrix, post_contract, send
from tests.body_contract import READERS, contract_app
from tests.servers.tls_helpers import Certs, client_context, tls_running

MODES: dict[str, dict[str, Any]] = {
    "threads": {},
    "inline": {"threads": 0},
    "stream": {"buffer_bodies": False},  # a pool thread reads the body through TLS as it comes
}
MATRIX = matrix({mode: cases(big_chunked=True, one_read=mode != "stream") for mode in MODES})


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, certs: Certs) -> Iterator[Any]:
    with tls_running(contract_app, certs, validate=False, **MODES[request.param]) as srv:
        ctx = client_context(certs)

        def connect(host: str, port: int) -> socket.socket:
            raw = socket.create_connection((host, port), timeout=60)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return ctx.wrap_socket(raw, server_hostname="localhost")

        srv.connect_tls = connect
        yield srv


@pytest.mark.parametrize("server", list(MODES), indirect=True)
@pytest.mark.parametrize("mode", list(READERS))
def test_contract_over_tls(server: Any, mode: str) -> None:
    answer = post_contract(server.host, server.port, mode, connect=server.connect_tls)
    check_contract(answer, mode)


@pytest.mark.parametrize(("server", "case"), MATRIX, indirect=["server"])
def test_body_over_tls(server: Any, case: Case) -> None:
    check_answer(send(server.host, server.port, case, connect=server.connect_tls), case)
