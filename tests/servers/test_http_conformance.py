"""The request-vector corpus (tests/http11_vectors.py) replayed against the real server.

Every vector is sent over a raw socket, then the client half-closes. Each request the parser must
accept gets its answer (200, in order), an invalid one gets its status and a closed connection,
and nothing after an error is ever answered: no resynchronising, no smuggling.
"""

from __future__ import annotations

import http.client
import io
import socket
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import pytest

from tests.http11_vectors import VECTORS, Outcome
from tests.servers.helpers import Running, read_all, running


def echo(environ: Any, start_response: Any) -> list[bytes]:
    size = 0
    while chunk := environ["wsgi.input"].read(65536):
        size += len(chunk)
    body = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {size}".encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


VALIDATED = validator(echo)


def app(environ: Any, start_response: Any) -> Any:
    """``echo`` under wsgiref.validate, but for ``OPTIONS *``: its PATH_INFO "*" (as gunicorn and
    waitress pass it) is refused by the validator, which wants "" or "/..." (RFC 3875 §4.1.5)."""
    if environ["REQUEST_URI"] == "*":
        return echo(environ, start_response)
    return VALIDATED(environ, start_response)


@pytest.fixture(
    scope="module", params=[pytest.param(4, id="threads"), pytest.param(0, id="inline")]
)
def server(request: pytest.FixtureRequest) -> Iterator[Running]:
    with running(app, validate=False, threads=request.param, header_timeout=5) as srv:
        yield srv


class _File(io.BytesIO):
    def close(self) -> None:  # http.client closes its file after each response; keep reading
        pass


def statuses(raw: bytes, methods: list[str]) -> list[int]:
    """The status of each response in ``raw``, read as a client would (HEAD has no body)."""
    source = _File(raw)
    sock: Any = type("Sock", (), {"makefile": lambda self, mode: source})()
    out = []
    for method in [*methods, "GET"]:
        if source.tell() >= len(raw):
            break
        resp = http.client.HTTPResponse(sock, method=method)
        resp.begin()
        resp.read()
        out.append(resp.status)
    assert source.tell() == len(raw), f"bytes after the last response: {raw[source.tell() :]!r}"
    return out


def exchange(srv: Running, data: bytes) -> bytes:
    with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer an error and close before it read everything
        return read_all(sock)  # returns only when the server closes the connection


def expected(outcome: Outcome) -> list[int]:
    answered = [200 for _ in outcome.requests]
    if outcome.error is not None and not outcome.at_eof:
        answered.append(outcome.error)
    return answered


# wsgiref.validate warns about methods outside its short list (PURGE, M-SEARCH...): not an error.
@pytest.mark.filterwarnings("ignore:Unknown REQUEST_METHOD")
@pytest.mark.parametrize(("data", "outcome"), [pytest.param(v[1], v[2], id=v[0]) for v in VECTORS])
def test_vector(server: Running, data: bytes, outcome: Outcome) -> None:
    raw = exchange(server, data)
    methods = [req.method for req in outcome.requests]
    assert statuses(raw, methods) == expected(outcome)
    if outcome.error is not None and not outcome.at_eof:
        last_head = raw[raw.rindex(b"HTTP/1.1 ") :].split(b"\r\n\r\n", 1)[0]
        assert b"\r\nConnection: close" in last_head


def test_options_asterisk_reaches_the_app_as_path_info_star(server: Running) -> None:
    raw = exchange(server, b"OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert raw.endswith(b"\r\n\r\nOPTIONS * 0")
