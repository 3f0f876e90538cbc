"""Session: the dict-like object SessionMiddleware puts at ``environ["wsgikit.session"]``.

It loads lazily (the cookie is checked and the store asked on first use, never before), and
remembers whether it was read (``Vary: Cookie``) and changed (saved only then)::

    session = environ["wsgikit.session"]
    session["visits"] = session.get("visits", 0) + 1
    session["cart"].append(item); session.modified = True   # in-place changes are not seen
    session.regenerate()   # after login: new id, same data (session fixation)
    session.invalidate()   # logout: data gone, record deleted, cookie expired
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any, Protocol

from wsgikit.middleware.sessions._errors import SessionError

__all__ = ["Session"]


class _Backend(Protocol):
    def load(self) -> tuple[dict[str, Any], str | None, bool]:
        """(data, key of the valid incoming session or None, re-save because of an old key)."""


class Session(MutableMapping[str, Any]):
    """One request's session: a mutable mapping of str keys to JSON-serialisable values.

    Raises :class:`StoreUnavailableError` on first use when the store is down (the middleware
    answers 503 if the app lets it through). Values are JSON when saved: tuples come back as
    lists; nested dicts need str keys.
    """

    __slots__ = ("_backend", "_data", "_error", "_invalidated", "_key", "_modified", "_regenerate")

    def __init__(self, backend: _Backend) -> None:
        self._backend = backend
        self._data: dict[str, Any] | None = None
        self._key: str | None = None
        self._error: SessionError | None = None
        self._modified = self._regenerate = self._invalidated = False

    def _load(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            if self._error is not None:  # one try a request: a down store is not asked twice
                raise self._error
            try:
                data, self._key, resave = self._backend.load()
            except SessionError as exc:
                self._error = exc
                raise
            self._data = data
            self._modified = self._modified or resave
        return data

    # --- the mapping -------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if type(key) is not str:  # JSON object keys are strings; 1 would come back as "1"
            raise TypeError(f"session keys must be str, got {key!r}")
        self._load()[key] = value
        self._modified = True

    def __delitem__(self, key: str) -> None:
        del self._load()[key]
        self._modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def get(self, key: str, default: Any = None) -> Any:
        return self._load().get(key, default)

    def clear(self) -> None:
        """Remove every key. An emptied session is deleted and its cookie expired on save."""
        self._load().clear()
        self._modified = True

    # --- the session -------------------------------------------------------------------------
    @property
    def accessed(self) -> bool:
        """Whether this request used the session: the response then varies by Cookie."""
        return self._data is not None

    @property
    def new(self) -> bool:
        """True when the request brought no valid session (none, tampered, expired, unknown)."""
        self._load()
        return self._key is None

    @property
    def modified(self) -> bool:
        """Whether the session will be saved. Set it after changing a value in place."""
        return self._modified

    @modified.setter
    def modified(self, value: bool) -> None:
        if value:
            self._load()
        self._modified = bool(value)

    def regenerate(self) -> None:
        """Keep the data under a new id (and a new cookie); the old record is deleted.

        Call it when the privilege level changes, such as at login (OWASP session fixation).
        """
        self._load()
        self._regenerate = self._modified = True

    def invalidate(self) -> None:
        """End the session: data cleared, record deleted, cookie expired.

        Works even when the store is down. Keys set afterwards start a new session, new id.
        """
        self._data, self._key, self._error = {}, None, None
        self._invalidated = self._modified = True

    def __repr__(self) -> str:
        if self._data is None:
            return "<Session (not loaded)>"
        return f"<Session {self._data!r}{' modified' if self._modified else ''}>"
