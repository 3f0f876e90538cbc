"""The exceptions of :mod:`wsgikit.middleware.sessions`, all subclasses of :class:`SessionError`.

Catch :class:`SessionError` to handle any of them; the middleware itself turns them into responses
(500 for bad session data, 503 for a store that is down) and logs them on ``wsgikit.sessions``::

    try:
        session["user"] = user_id
    except StoreUnavailableError:
        ...  # render the page without the session
"""

from __future__ import annotations

__all__ = ["SessionDataError", "SessionError", "SessionTooLargeError", "StoreUnavailableError"]


class SessionError(Exception):
    """Base class of every session error."""


class SessionDataError(SessionError):
    """The session holds something JSON cannot encode (a set, bytes, a datetime, NaN ...)."""


class SessionTooLargeError(SessionError):
    """A cookie-stored session encodes to a cookie over the size limit (RFC 6265 §6.1)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the session cookie is {size} bytes, over the {limit}-byte limit browsers keep "
            "(RFC 6265 §6.1): store less in the session, or use a server-side store"
        )
        self.size = size
        self.limit = limit


class StoreUnavailableError(SessionError):
    """The session store could not be reached or failed; the request gets a 503."""
