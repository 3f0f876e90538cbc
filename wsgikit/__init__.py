"""wsgikit: composable WSGI (PEP 3333) middleware, a selector-based HTTP/1.1 server, and gateways.

Wrap an app and mount two apps::

    from wsgikit import pipeline
    from wsgikit.middleware import Dispatcher, ErrorMiddleware, GzipMiddleware

    app = pipeline(ErrorMiddleware, GzipMiddleware, app=Dispatcher({"/": site, "/api": api}))
"""

from __future__ import annotations

from wsgikit._environ import ClientError
from wsgikit._version import __version__
from wsgikit.compose import pipeline
from wsgikit.lint import LintError, LintMiddleware
from wsgikit.loader import LoadError, load_app, prepare_sys_path
from wsgikit.testing import Result, call_app, check_middleware, make_environ, serve_in_thread

__all__ = [
    "ClientError",
    "LintError",
    "LintMiddleware",
    "LoadError",
    "Result",
    "__version__",
    "call_app",
    "check_middleware",
    "load_app",
    "make_environ",
    "pipeline",
    "prepare_sys_path",
    "serve_in_thread",
]
