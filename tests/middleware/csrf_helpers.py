"""Helpers for the CSRF tests: an app that shows its token and echoes what it read, and a
browser that keeps the CSRF cookie."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from wsgikit.middleware import CSRF
from wsgikit.testing import Result, call_app
from wsgikit.types import StartResponse, WSGIEnvironment

SECRET = "c" * 32


def page(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """GET: the masked token. Otherwise: CONTENT_LENGTH and sha256 of the body as read."""
    if environ["REQUEST_METHOD"] == "GET":
        body = str(environ["wsgikit.csrf_token"]).encode()
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length)
        body = f"{length} {hashlib.sha256(data).hexdigest()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def digest(data: bytes) -> bytes:
    return f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()


def mw(**options: Any) -> CSRF:
    return CSRF(page, **{"secret": SECRET, **options})


def visit(app: Any, **kwargs: Any) -> tuple[str, str]:
    """(token, cookie pair) a first GET gives out."""
    result = call_app(app, **kwargs)
    cookie = (result.header("Set-Cookie") or "").split(";")[0]
    return result.body.decode(), cookie


def post(
    app: Any,
    cookie: str | None,
    body: bytes = b"",
    *,
    content_type: str = "application/x-www-form-urlencoded",
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Result:
    sent = {"Content-Type": content_type, **(headers or {})}
    if cookie:
        sent["Cookie"] = cookie
    return call_app(app, method=kwargs.pop("method", "POST"), body=body, headers=sent, **kwargs)


def multipart(fields: list[tuple[str, bytes, str | None]], boundary: str = "b0undary") -> bytes:
    """A multipart/form-data body of (name, value, filename) parts (RFC 7578)."""
    out = b""
    for name, value, filename in fields:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()
