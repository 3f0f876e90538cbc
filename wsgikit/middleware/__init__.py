"""The middleware library: one middleware a module, each re-exported here.

Example::

    from wsgikit.middleware import GzipMiddleware
"""

from __future__ import annotations

__all__: list[str] = []
