"""wsgikit: composable WSGI (PEP 3333) middleware, a selector-based HTTP/1.1 server, and gateways.

Wrap an app and mount two apps::

    from wsgikit import pipeline
    app = pipeline(ErrorMiddleware, GzipMiddleware, app=Dispatcher({"/": site, "/api": api}))
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
