"""Any bytes from a client leave the HTTP server serving, with no internal error, in both modes.

The conformance corpus pins the answers to known vectors; this throws mixtures of request pieces
and noise at a running server and checks only what must always hold: nothing escapes our code
(no "internal error" log record), and the next well-behaved client is served.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers.apps import echo
from tests.servers.helpers import InternalErrors, Running, read_all, running
from tests.servers.test_http import responses

# Request pieces, the well-formed ones weighted up so that most requests get deep into the
# parser and the app before something goes wrong.
GOOD_LINES = [
    b"GET / HTTP/1.1\r\n",
    b"POST /upload HTTP/1.1\r\n",
    b"HEAD / HTTP/1.0\r\n",
    b"OPTIONS * HTTP/1.1\r\n",
    b"GET http://a/b?c HTTP/1.1\r\n",
    b"GET /%7e%2F?q=%zz HTTP/1.1\r\n",
]
BAD_LINES = [b"BREW / HTTP/1.1\r\n", b"GET / HTTP/1.2\r\n", b"GET  / HTTP/1.1\r\n", b"GET /\r\n"]
GOOD_HEADERS = [
    b"Host: a\r\n",
    b"Host: [::1]:80\r\n",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive, upgrade\r\n",
    b"Upgrade: websocket\r\n",
    b"X_Under: score\r\n",
    b"Cookie: a=1\r\n",
]
BAD_HEADERS = [
    b"Content-Length: -1\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Expect: teapot\r\n",
    b" folded\r\n",
    b"Bad Name: x\r\n",
    b"X-Ctl: \x01\r\n",
]
BODIES = [b"", b"hello", b"5\r\nhello\r\n0\r\n\r\n", b"5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n"]
BODIES += [b"ffffffffffffffffff\r\n", b"5\r\nhelloXX0\r\n\r\n", b"0\r\n\r\n"]

# A request from the pieces above (mostly valid, sometimes not), or noise; several per connection.
requests = st.builds(
    lambda line, headers, end, body: line + b"".join(headers) + end + body,
    st.sampled_from(GOOD_LINES * 3 + BAD_LINES),
    st.lists(st.sampled_from(GOOD_HEADERS * 4 + BAD_HEADERS), max_size=5),
    st.sampled_from([b"\r\n"] * 6 + [b"\n", b""]),
    st.sampled_from(BODIES) | st.binary(max_size=16),
)
streams = st.lists(requests | st.binary(max_size=32), min_size=1, max_size=4)


@pytest.fixture(
    scope="module", params=[pytest.param(2, id="threads"), pytest.param(0, id="inline")]
)
def target(request: pytest.FixtureRequest) -> Iterator[tuple[Running, InternalErrors]]:
    with (
        InternalErrors() as errors,
        running(echo, threads=request.param, header_timeout=2.0) as srv,
    ):
        yield srv, errors


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pieces=streams)
def test_any_bytes_leave_the_server_serving(target: Any, pieces: list[bytes]) -> None:
    srv, errors = target
    with srv.connect() as sock:
        try:
            sock.sendall(b"".join(pieces))
            sock.shutdown(socket.SHUT_WR)  # the end of the input: the server answers and closes
        except OSError:
            pass  # it may have answered an error and closed already
        read_all(sock)
    answer = srv.request(b"GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert responses(answer) == [(200, b"")]
    assert not errors.found
