"""A Pyramid app served through the wsgikit stack from a PasteDeploy ini (``app.ini`` here).

    wsgikit serve config:examples/pyramid_app/app.ini

``main`` is the app factory the ini names (``use = call:examples.pyramid_app:main``); the ini's
pipeline puts ErrorMiddleware, gzip, sessions and Content-Length around it.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

__all__ = ["main"]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pyramid under wsgikit</title></head>
<body><h1>{greeting}</h1><p>Visit {visits} in this session.</p>
<p><a href="{hello}">hello</a></p></body></html>
"""


def index(request: Request) -> Response:
    session = request.environ["wsgikit.session"]
    session["visits"] = session.get("visits", 0) + 1
    greeting = request.registry.settings["greeting"]
    hello = request.route_url("hello", name="world")
    return Response(PAGE.format(greeting=greeting, visits=session["visits"], hello=hello))


def hello(request: Request) -> dict[str, str]:
    name = request.matchdict["name"]
    return {"hello": name, "url": request.route_path("hello", name=name)}


def boom(request: Request) -> Response:
    raise RuntimeError("this Pyramid error is on purpose: ErrorMiddleware answers it")


def main(global_config: dict[str, str], **settings: Any) -> Any:
    """The PasteDeploy app factory: settings are the ini section's keys."""
    with Configurator(settings=settings) as config:
        config.add_route("index", "/")
        config.add_route("hello", "/hello/{name}")
        config.add_route("boom", "/boom")
        config.add_view(index, route_name="index")
        config.add_view(hello, route_name="hello", renderer="json")
        config.add_view(boom, route_name="boom")
        return config.make_wsgi_app()
