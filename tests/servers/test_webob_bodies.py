"""WebOb's Request (what Pyramid's request is) gets bodies whole through the HTTP server.

WebOb reads ``CONTENT_LENGTH`` bytes of ``wsgi.input`` for ``request.body`` and parses
``request.POST`` from the same stream; before wsgi.input read whole, it answered 500 ("The client
disconnected while sending the body") for bodies over 64 KiB. The bodies arrive in uneven pieces
(tests/body_client.py), 1 KB to 20 MB, with Content-Length and chunked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from urllib3 import encode_multipart_formdata
from webob import Request, Response

from tests.body_client import post
from tests.body_contract import random_body
from tests.servers.helpers import Running, running

MODES = {
    "threads": {"threads": 4},
    "inline": {"threads": 0},
    "stream": {"threads": 4, "buffer_bodies": False},
}
SIZES = [1000, 100_000, 1 << 20, 20_000_000]


def app(environ: Any, start_response: Any) -> Any:
    request = Request(environ)
    if request.path_info == "/body":
        data = request.body
        answer = {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    else:
        fields: dict[str, Any] = {}
        for name, value in request.POST.items():
            if hasattr(value, "file"):
                with value.file:  # WebOb's temporary file: the app closes it
                    content = value.file.read()
                fields[name] = [len(content), hashlib.sha256(content).hexdigest()]
            else:
                fields[name] = hashlib.sha256(value.encode()).hexdigest()
        answer = {"fields": fields}
    # WebOb copies a big body into a temporary file of its own, which it leaves to the garbage
    # collector (and pytest's ResourceWarning check): close it, as a tidy app would.
    getattr(environ["wsgi.input"], "close", lambda: None)()
    response = Response(json.dumps(answer).encode(), content_type="application/json")
    return response(environ, start_response)


@pytest.fixture(scope="module", params=list(MODES))
def server(request: pytest.FixtureRequest) -> Iterator[Running]:
    with running(app, validate=False, **MODES[request.param]) as srv:
        yield srv


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_request_body(server: Running, size: int, chunked: bool) -> None:
    data = random_body(size)
    answer = post(server.host, server.port, "/body", data, chunked=chunked)
    assert answer.status == 200, answer.body[:300]
    # Streamed chunked bodies have no CONTENT_LENGTH: WebOb reads to the end, as
    # wsgi.input_terminated allows. The others have one.
    assert answer.json() == {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("size", SIZES[:3])
def test_form_post(server: Running, size: int) -> None:
    value = "é&=+" * (size // 4)
    body = urlencode({"field": value, "other": "x"}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = post(server.host, server.port, "/form", body, headers=headers)
    want = {"field": hashlib.sha256(value.encode()).hexdigest()}
    assert answer.json()["fields"]["field"] == want["field"]


@pytest.mark.parametrize("size", SIZES)
def test_multipart_upload(server: Running, size: int) -> None:
    data = random_body(size)
    body, content_type = encode_multipart_formdata({"upload": ("f.bin", data), "n": "x"})
    answer = post(server.host, server.port, "/form", body, headers={"Content-Type": content_type})
    assert answer.status == 200, answer.body[:300]
    got = answer.json()["fields"]
    assert got["upload"] == [len(data), hashlib.sha256(data).hexdigest()]
