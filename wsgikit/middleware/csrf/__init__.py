"""CSRF: a masked, signed token checked on unsafe requests, with Origin and Referer checks.

``middleware.py`` holds the class; ``_token.py`` the secret and its masked tokens,
``_origin.py`` the Origin/Referer rules, ``_form.py`` reading the token from a form body and
putting the body back for the app.
"""

from __future__ import annotations

from wsgikit.middleware.csrf.middleware import CSRF, CSRFToken

__all__ = ["CSRF", "CSRFToken"]
