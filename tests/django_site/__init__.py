"""A minimal Django project that tests/peers/test_django.py serves through wsgikit."""
