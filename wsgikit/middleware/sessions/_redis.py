"""RedisStore: server-side sessions in Redis with a TTL, shared by every machine of a deployment.

Needs redis-py (``pip install 'wsgikit[redis]'``). Each session is one key, ``prefix`` + id, that
Redis expires by itself ``max_age`` seconds after the last save::

    SessionMiddleware(app, secret=SECRET, store=RedisStore("redis://127.0.0.1:6379/0"))

A Redis that is down makes session reads fail fast (``timeout``) with a 503, not a hang.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from wsgikit.middleware.sessions._errors import StoreUnavailableError
from wsgikit.middleware.sessions._store import ServerStore

__all__ = ["RedisStore"]

if TYPE_CHECKING:
    import redis

_SCHEMES = ("redis://", "rediss://", "unix://")
_userinfo = re.compile(r"//[^/@]*@")  # redis://user:password@host: keep passwords out of logs


class RedisStore(ServerStore):
    """Sessions as keys ``prefix + id`` in the Redis database at ``url``."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "wsgikit:session:",
        timeout: float = 2.0,
    ) -> None:
        try:  # redis-py is an optional extra, imported only by those who use it
            import redis  # noqa: PLC0415
            from redis.backoff import NoBackoff  # noqa: PLC0415
            from redis.retry import Retry  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError("RedisStore needs redis-py: pip install 'wsgikit[redis]'") from exc
        if not isinstance(url, str):
            raise TypeError(f"url must be a str like redis://127.0.0.1:6379/0, got {url!r}")
        shown = _userinfo.sub("//***@", url, count=1)
        if not url.startswith(_SCHEMES):
            raise ValueError(f"url must start with one of {', '.join(_SCHEMES)}, got {shown!r}")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {prefix!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self.url, self.prefix = shown, prefix
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        try:
            # One immediate retry heals a pooled connection the server closed (restart, idle
            # timeout); redis-py's default backs off for seconds, too long to hold a request.
            self._client: redis.Redis = redis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 1),
            )
        except ValueError as exc:
            raise ValueError(f"url is not a Redis URL: {self.url!r} ({exc})") from None

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:  # refused, timed out, auth, OOM ...: the store is down
            raise StoreUnavailableError(f"Redis session store {self.url}: {exc}") from exc

    def load(self, session_id: str) -> str | None:
        with self._guard():
            value = self._client.get(self.prefix + session_id)
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return value

    def save(self, session_id: str, payload: str, max_age: int) -> None:
        with self._guard():
            # SET ... EX: value and TTL in one atomic command (redis.io/commands/set).
            self._client.set(self.prefix + session_id, payload.encode("utf-8"), ex=max_age)

    def delete(self, session_id: str) -> None:
        with self._guard():
            self._client.delete(self.prefix + session_id)

    def close(self) -> None:
        """Close the pooled connections; the next use reconnects."""
        self._client.close()

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, prefix={self.prefix!r})"
