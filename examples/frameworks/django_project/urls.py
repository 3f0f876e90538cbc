"""The example project's URLs; ``reverse`` adds the mount point Django reads from SCRIPT_NAME."""

from __future__ import annotations

from django.urls import path

from examples.frameworks.django_project import views

urlpatterns = [
    path("", views.index, name="index"),
    path("hello/<str:name>", views.hello, name="hello"),
    path("boom", views.boom, name="boom"),
]
