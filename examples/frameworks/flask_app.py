"""The Flask half: a page with links made by ``url_for``, a JSON view, and an error.

``PROPAGATE_EXCEPTIONS`` lets an exception reach wsgikit's ErrorMiddleware (one error page and
one log line for the whole site) instead of Flask's own 500. The session is wsgikit's
(``environ["wsgikit.session"]``), shared with the Django half under the same cookie.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request, url_for

__all__ = ["app"]

app = Flask(__name__)
app.config["PROPAGATE_EXCEPTIONS"] = True

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flask under wsgikit</title></head>
<body><h1>Flask</h1><p>Visit {visits} in this session.</p>
<p><a href="{hello}">hello</a> <a href="{boom}">an error</a></p></body></html>
"""


@app.get("/")
def index() -> str:
    session = request.environ["wsgikit.session"]
    session["visits"] = session.get("visits", 0) + 1
    return PAGE.format(
        visits=session["visits"],
        hello=url_for("hello", name="world"),
        boom=url_for("boom"),
    )


@app.get("/hello/<name>")
def hello(name: str) -> dict[str, Any]:
    return {"hello": name, "url": url_for("hello", name=name), "root": request.script_root}


@app.get("/boom")
def boom() -> str:
    raise RuntimeError("this Flask error is on purpose: ErrorMiddleware answers it")
