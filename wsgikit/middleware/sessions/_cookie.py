"""CookieStore: the whole session, signed (not encrypted), in the cookie itself. The default store.

Use it when sessions are small (a user id, a flash message) and you want no server-side state::

    SessionMiddleware(app, secret=SECRET, store=CookieStore(max_size=4093))

The data is JSON, signed with itsdangerous by the middleware's secret; the client can read it but
not change it. Keep secrets out of it. The encoded cookie must fit ``max_size`` bytes
(name + "=" + value); a bigger one raises :class:`SessionTooLargeError` when the response starts.
"""

from __future__ import annotations

from wsgikit.middleware.sessions._errors import SessionTooLargeError

__all__ = ["CookieStore"]

# RFC 6265 §6.1 asks browsers for at least 4096 bytes a cookie; 4093 for name=value is what the
# strictest ones (Safari, old IE) keep, measured on name + "=" + value.
_BROWSER_LIMIT = 4096


class CookieStore:
    """Keep the session in a signed cookie of at most ``max_size`` bytes (name=value)."""

    __slots__ = ("max_size",)

    def __init__(self, *, max_size: int = 4093) -> None:
        if type(max_size) is not int:
            raise TypeError(f"max_size must be an int (bytes), got {max_size!r}")
        if not 64 <= max_size <= _BROWSER_LIMIT:
            raise ValueError(
                f"max_size must be between 64 and {_BROWSER_LIMIT} bytes (RFC 6265 §6.1), "
                f"got {max_size}"
            )
        self.max_size = max_size

    def check_size(self, cookie_name: str, value: str) -> None:
        """Raise :class:`SessionTooLargeError` if ``cookie_name=value`` is over ``max_size``."""
        size = len(cookie_name) + 1 + len(value)  # both ASCII: characters are bytes
        if size > self.max_size:
            raise SessionTooLargeError(size, self.max_size)

    def __repr__(self) -> str:
        return f"CookieStore(max_size={self.max_size})"
