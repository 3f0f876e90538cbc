"""Each view answers, as JSON, what Django parsed from the request, hashed where it is big."""

from __future__ import annotations

import hashlib

from django.http import HttpRequest, JsonResponse


def body(request: HttpRequest) -> JsonResponse:
    """``request.body``: Django reads CONTENT_LENGTH bytes with one read() (none without it)."""
    data = request.body
    return JsonResponse(
        {
            "length": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_length": request.META.get("CONTENT_LENGTH"),
        }
    )


def form(request: HttpRequest) -> JsonResponse:
    """``request.POST`` of a urlencoded form, and how many cookies came with it."""
    fields = {name: request.POST.getlist(name) for name in request.POST}
    return JsonResponse({"fields": fields, "cookies": len(request.COOKIES)})


def files(request: HttpRequest) -> JsonResponse:
    """``request.FILES`` of a multipart upload (size and sha256 of each) and ``request.POST``."""
    uploaded = {}
    for name, upload in request.FILES.items():
        digest = hashlib.sha256()
        for chunk in upload.chunks():
            digest.update(chunk)
        uploaded[name] = {"name": upload.name, "size": upload.size, "sha256": digest.hexdigest()}
    fields = {name: request.POST.getlist(name) for name in request.POST}
    return JsonResponse({"files": uploaded, "fields": fields})
