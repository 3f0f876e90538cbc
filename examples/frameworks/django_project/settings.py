"""Settings of the example project: no database, no installed apps.

``DEBUG_PROPAGATE_EXCEPTIONS`` lets an exception reach wsgikit's ErrorMiddleware instead of
Django's own 500 page. Keep the secret out of the source in a real project.
"""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = False
DEBUG_PROPAGATE_EXCEPTIONS = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "examples.frameworks.django_project.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True
