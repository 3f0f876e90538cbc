"""The small apps the server tests share: every server and gateway answers them alike."""

from __future__ import annotations

from typing import Any


def hello(environ: Any, start_response: Any) -> list[bytes]:
    """``Hello, <PATH_INFO>``, with a Content-Length."""
    body = b"Hello, " + environ["PATH_INFO"].encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def echo(environ: Any, start_response: Any) -> list[bytes]:
    """The request body back, read in 64 KiB pieces (wsgiref.validate wants a size)."""
    chunks = []
    while chunk := environ["wsgi.input"].read(65536):
        chunks.append(chunk)
    body = b"".join(chunks)
    start_response(
        "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))]
    )
    return [body]


def show(*keys: str) -> Any:
    """An app that answers the environ's values of ``keys``, joined with "|"."""

    def app(environ: Any, start_response: Any) -> list[bytes]:
        body = "|".join(str(environ.get(k)) for k in keys).encode("latin-1")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return app
