"""Unhandled exceptions turned into a 500 page, logged and reported: :class:`ErrorMiddleware`.

The class lives in :mod:`.middleware`; the private modules are its steps: ``_guard`` catches what
the body raises, ``_page`` answers (the plain page, negotiated), ``_debug`` and ``_repr`` render
the traceback page, ``_mail`` is :class:`SMTPNotifier`, the reporter that mails tracebacks::

    from wsgikit.middleware.errors import ErrorMiddleware, SMTPNotifier, from_addresses

    app = ErrorMiddleware(app, debug=True, show_details_to=from_addresses("127.0.0.1", "::1"),
                          notify=SMTPNotifier("localhost", 25, "app@example.com", "me@example.com"))
"""

from __future__ import annotations

from wsgikit.middleware.errors._mail import SMTPNotifier
from wsgikit.middleware.errors._page import from_addresses
from wsgikit.middleware.errors.middleware import ErrorMiddleware

__all__ = ["ErrorMiddleware", "SMTPNotifier", "from_addresses"]
