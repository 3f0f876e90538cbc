"""The apps every server in benchmarks/http_server.py serves: the same callables for every peer."""

from __future__ import annotations

import json
from collections.abc import Iterable

from wsgikit import pipeline
from wsgikit.middleware import Dispatcher, ErrorMiddleware, GzipMiddleware
from wsgikit.types import StartResponse, WSGIEnvironment

HELLO = b"Hello, World!"


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [HELLO]


def _items(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    query = environ.get("QUERY_STRING", "")
    payload = {
        "path": environ.get("PATH_INFO", ""),
        "query": query,
        "items": [{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(10)],
    }
    body = json.dumps(payload).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


# A few middleware around a JSON response: errors, gzip (the client asks for it), a mount.
realistic = pipeline(ErrorMiddleware, GzipMiddleware, app=Dispatcher({"/api": _items}))
