"""The demo stack the README serves: two small apps behind wsgikit middleware.

Run it with ``wsgikit serve examples.demo:app`` and open http://127.0.0.1:8000/.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable

from wsgikit.types import StartResponse, WSGIEnvironment

__all__ = ["api", "app", "site"]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wsgikit demo</title></head>
<body><h1>wsgikit demo</h1>
<p>You asked for <code>{path}</code> (mounted at <code>{script}</code>).</p>
<p>Try <a href="{script}/api/hello">the JSON API</a>.</p>
</body></html>
"""


def site(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A small HTML site."""
    body = PAGE.format(
        path=html.escape(environ.get("PATH_INFO", "")),
        script=html.escape(environ.get("SCRIPT_NAME", "")),
    ).encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body]


def api(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A JSON API that echoes where it was mounted."""
    payload = {
        "hello": "world",
        "script_name": environ.get("SCRIPT_NAME", ""),
        "path_info": environ.get("PATH_INFO", ""),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(payload).encode()]


def _route(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/api" or path.startswith("/api/"):
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/api"
        environ["PATH_INFO"] = path[4:]
        return api(environ, start_response)
    return site(environ, start_response)


app = _route
