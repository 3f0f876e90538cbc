"""The site: Flask under /flask, Django under /django, one middleware stack around both.

    wsgikit serve examples.frameworks.app:app     # then open /flask/ and /django/

The session secret comes from ``WSGIKIT_EXAMPLE_SECRET`` (else a random one per process, and
sessions end on restart). Outermost first: ErrorMiddleware (one 500 page and one log line for
both frameworks), gzip, sessions (one cookie for both), Content-Length for small bodies.
"""

from __future__ import annotations

import functools
import os
import secrets

from django.core.wsgi import get_wsgi_application

from examples.frameworks.flask_app import app as flask_app
from wsgikit import pipeline
from wsgikit.middleware import (
    ContentLengthMiddleware,
    Dispatcher,
    ErrorMiddleware,
    GzipMiddleware,
    SessionMiddleware,
)

__all__ = ["app"]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.frameworks.django_project.settings")
django_app = get_wsgi_application()
secret = os.environ.get("WSGIKIT_EXAMPLE_SECRET") or secrets.token_hex(32)

app = pipeline(
    ErrorMiddleware,
    functools.partial(GzipMiddleware, min_size=128),  # the example pages are small
    functools.partial(SessionMiddleware, secret=secret),
    ContentLengthMiddleware,
    app=Dispatcher({"/flask": flask_app, "/django": django_app}),
)
