"""ProxyFix: the client's address, scheme, host and mount point as a trusted proxy saw them.

Use it when the app runs behind a reverse proxy (nginx, HAProxy, a load balancer) and is served
by a server that does not apply the proxy headers itself (mod_wsgi, waitress, a FastCGI gateway
behind a second proxy); ``wsgikit serve --forwarded-allow-ips`` applies the same code in the
server. Headers are believed only when ``REMOTE_ADDR`` is in ``trusted``; from any other peer
they are removed. A peer without an IP address (a unix socket under a server that leaves
REMOTE_ADDR empty) is trusted only with ``trusted="*"``; wsgikit's own server reports unix-socket
peers as 127.0.0.1. The values before the rewrite stay in ``environ["wsgikit.proxy.original"]``::

    from wsgikit.middleware import ProxyFix

    app = ProxyFix(app, trusted=["10.0.0.0/8"], x_for=1, x_proto=1, x_host=1)

Hop counts are werkzeug's (``x_for=1, x_proto=1, x_host=0, x_port=0, x_prefix=0``): set each to
the number of proxies in front of the app that set that header. ``forwarded=True`` reads RFC 7239
``Forwarded`` instead of ``X-Forwarded-*``. See :mod:`wsgikit._forwarded` for the rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wsgikit._forwarded import TrustedProxies
from wsgikit.middleware._options import app_option
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ProxyFix"]


class ProxyFix:
    """Apply trusted proxy headers to the environ, then call the app (options keyword-only)."""

    __slots__ = ("app", "proxies")

    def __init__(self, app: WSGIApplication, **options: Any) -> None:
        """``options``: those of :class:`~wsgikit._forwarded.TrustedProxies` (keyword-only):
        ``trusted``, ``x_for``, ``x_proto``, ``x_host``, ``x_port``, ``x_prefix``, ``forwarded``."""
        self.app = app_option("ProxyFix", app)
        try:
            self.proxies = TrustedProxies(**options)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"ProxyFix: {exc}") from None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.proxies.apply(environ)
        return self.app(environ, start_response)
