"""The interface of server-side session stores: JSON text kept by session id, with an expiry.

Subclass :class:`ServerStore` to keep sessions somewhere else (memcached, a SQL database)::

    class DictStore(ServerStore):
        def load(self, session_id): ...          # the JSON text, or None when unknown or expired
        def save(self, session_id, payload, max_age): ...
        def delete(self, session_id): ...

Raise :class:`StoreUnavailableError` when the backend is down: the middleware answers 503.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

__all__ = ["ServerStore"]


class ServerStore(ABC):
    """Where server-side sessions live. Ids are opaque keys; never build file paths from them.

    The middleware makes the ids (``secrets``, 256 bits), signs them in the cookie and checks the
    signature before it asks the store, so a store only ever sees ids the middleware issued.
    """

    @abstractmethod
    def load(self, session_id: str) -> str | None:
        """The JSON text saved under ``session_id``, or None if unknown or expired."""

    @abstractmethod
    def save(self, session_id: str, payload: str, max_age: int) -> None:
        """Keep ``payload`` under ``session_id`` for ``max_age`` seconds, replacing any old one."""

    @abstractmethod
    def delete(self, session_id: str) -> None:
        """Forget ``session_id``; no error if it is unknown."""

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing to release
        """Release connections and files. Stores that hold none need not override this."""
