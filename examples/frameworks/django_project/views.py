"""The Django views: a page with links made by ``reverse``, a JSON view, and an error."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Django under wsgikit</title></head>
<body><h1>Django</h1><p>Visit {visits} in this session.</p>
<p><a href="{hello}">hello</a> <a href="{boom}">an error</a></p></body></html>
"""


def index(request: HttpRequest) -> HttpResponse:
    session = request.META["wsgikit.session"]  # wsgikit's session, shared with the Flask half
    session["visits"] = session.get("visits", 0) + 1
    hello, boom = reverse("hello", args=["world"]), reverse("boom")
    return HttpResponse(PAGE.format(visits=session["visits"], hello=hello, boom=boom))


def hello(request: HttpRequest, name: str) -> JsonResponse:
    url = reverse("hello", args=[name])
    return JsonResponse({"hello": name, "url": url, "root": request.META["SCRIPT_NAME"]})


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("this Django error is on purpose: ErrorMiddleware answers it")
