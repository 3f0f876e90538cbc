"""The demo stack the README serves: two apps under one dispatcher, behind the core middleware.

Run it with ``wsgikit serve examples.demo:app`` and open http://127.0.0.1:8000/. The session
secret comes from ``WSGIKIT_DEMO_SECRET`` (else a random one per process; sessions end on restart).

    /            the site: an HTML page with a per-visitor counter kept in the session
    /api/...     a JSON API mounted under /api (it sees SCRIPT_NAME "/api")
    /api/boom    raises, to show the error page; /nowhere shows the 404 error document
"""

from __future__ import annotations

import functools
import html
import json
import os
import secrets
from collections.abc import Iterable

from wsgikit import pipeline
from wsgikit.middleware import (
    ContentLengthMiddleware,
    Dispatcher,
    ErrorDocuments,
    ErrorMiddleware,
    GzipMiddleware,
    SessionMiddleware,
)
from wsgikit.types import StartResponse, WSGIEnvironment

__all__ = ["api", "app", "errors", "site"]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wsgikit demo</title></head>
<body><h1>wsgikit demo</h1>
<p>You asked for <code>{path}</code>; this is visit number {visits} in your session.</p>
<p>Try <a href="{root}/api/hello">the JSON API</a>, <a href="{root}/api/boom">an error</a>
or <a href="{root}/nowhere">a missing page</a>.</p>
</body></html>
"""


def site(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The HTML site: counts visits in the session."""
    session = environ["wsgikit.session"]
    session["visits"] = session.get("visits", 0) + 1
    if environ.get("PATH_INFO", "/") not in ("", "/"):
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found\n"]
    body = PAGE.format(
        path=html.escape(environ.get("PATH_INFO", "")),
        visits=session["visits"],
        root=html.escape(environ.get("SCRIPT_NAME", "")),
    ).encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body]


def api(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The JSON API: echoes where it is mounted; /boom raises to show the error handling."""
    if environ.get("PATH_INFO") == "/boom":
        raise RuntimeError("this error is on purpose: the demo shows the 500 page")
    payload = {
        "hello": "world",
        "script_name": environ.get("SCRIPT_NAME", ""),
        "path_info": environ.get("PATH_INFO", ""),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(payload).encode()]


def errors(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The error documents: ErrorDocuments fetches /errors/404 for every 404."""
    body = b"<!doctype html><title>Not found</title><h1>Nothing here</h1><p><a href='/'>home</a>"
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body]


secret = os.environ.get("WSGIKIT_DEMO_SECRET") or secrets.token_hex(32)

app = pipeline(
    ErrorMiddleware,  # outermost: catches everything below, logs it, answers a 500 page
    functools.partial(ErrorDocuments, documents={404: "/errors/404"}),
    functools.partial(GzipMiddleware, min_size=256),  # the demo pages are small
    functools.partial(SessionMiddleware, secret=secret),
    ContentLengthMiddleware,  # small bodies get a Content-Length: keep-alive survives
    app=Dispatcher({"/": site, "/api": api, "/errors": errors}),
)
