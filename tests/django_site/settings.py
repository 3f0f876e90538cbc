"""Settings of the test project: no database, no installed apps, no middleware (so no CSRF).

Bodies up to 64 MiB may be read with ``request.body``; uploaded files over Django's default
2.5 MB go to temporary files, so both of Django's upload handlers run.
"""

from __future__ import annotations

SECRET_KEY = "wsgikit-tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.django_site.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 << 20
