"""The WSGI entry point, as ``django-admin startproject`` writes it: ``wsgi:application``."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_site.settings")
application = get_wsgi_application()
