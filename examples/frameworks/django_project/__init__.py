"""The Django half: a project with no database, as ``django-admin startproject`` would lay out."""
