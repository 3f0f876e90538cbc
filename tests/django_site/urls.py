"""The three views: the raw body, a urlencoded form, a multipart upload."""

from __future__ import annotations

from django.urls import path

from tests.django_site import views

urlpatterns = [
    path("body", views.body),
    path("form", views.form),
    path("files", views.files),
]
