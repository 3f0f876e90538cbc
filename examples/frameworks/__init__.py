"""A Flask app and a Django project side by side under one Dispatcher, behind the full stack.

Run it with ``wsgikit serve examples.frameworks.app:app`` and open http://127.0.0.1:8000/flask/
or http://127.0.0.1:8000/django/. Each framework sees its mount point as SCRIPT_NAME, so Flask's
``url_for`` and Django's ``reverse`` give ``/flask/...`` and ``/django/...`` with no setting.
"""
