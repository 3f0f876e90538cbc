"""Request bodies through the HTTP server, in every mode: the wsgi.input contract and the matrix.

Modes: a pool of threads with the default options, inline (``threads=0``), and the pool with
``buffer_bodies=False`` (the body streams to the app as it arrives) and ``buffer_bodies=True``
(the loop reads it whole first). The app (tests/body_contract.py) answers the size and sha256 of
what it read; wsgiref.validate is left out because it refuses ``read()`` without a size, which
the contract checks. Where the server reads the whole body before the app runs it knows the
length, so it must give CONTENT_LENGTH for a chunked body too: apps read ``CONTENT_LENGTH``
bytes with one ``read()`` and nothing without it (Django).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.body_client import (
    Case,
    cases,
    check_answer,
    check_contract,
    matrix,
    post,
    post_contract,
    send,
)
from tests.body_contract import READERS, contract_app, random_body
from tests.servers.helpers import Running, running

MODES: dict[str, dict[str, Any]] = {
    "threads": {},
    "inline": {"threads": 0},
    "stream": {"buffer_bodies": False},
    "buffered": {"buffer_bodies": True},
}
STREAMING = ("stream",)  # the modes where a chunked body's length is unknown as the app starts


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[Running]:
    with running(contract_app, validate=False, **MODES[request.param]) as srv:
        yield srv


MATRIX = matrix({mode: cases(big_chunked=True, one_read=mode not in STREAMING) for mode in MODES})


@pytest.mark.parametrize("server", list(MODES), indirect=True)
@pytest.mark.parametrize("mode", list(READERS))
def test_contract(server: Running, mode: str) -> None:
    check_contract(post_contract(server.host, server.port, mode), mode)


@pytest.mark.parametrize(("server", "case"), MATRIX, indirect=["server"])
def test_body(server: Running, case: Case) -> None:
    check_answer(send(server.host, server.port, case), case)


@pytest.mark.parametrize("server", STREAMING, indirect=True)
def test_streamed_chunked_body_says_it_ends_by_itself(server: Running) -> None:
    # wsgi.input_terminated (mod_wsgi's extension, honoured by Werkzeug and WebOb): no
    # CONTENT_LENGTH, the app reads until b"".
    body = random_body(100_000)
    seen = post(server.host, server.port, "/?mode=read_all", body, chunked=True).json()
    assert (seen["content_length"], seen["input_terminated"]) == (None, True)


@pytest.mark.parametrize("server", [m for m in MODES if m not in STREAMING], indirect=True)
def test_buffered_chunked_body_gets_content_length(server: Running) -> None:
    body = random_body(100_000)
    seen = post(server.host, server.port, "/?mode=read_all", body, chunked=True).json()
    assert seen["content_length"] == str(len(body))
