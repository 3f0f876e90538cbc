"""Trusted proxies in the HTTP server: apply the proxy headers to each request's environ.

The policy is :class:`wsgikit._forwarded.TrustedProxies` (``--forwarded-allow-ips``, the same
code as :class:`wsgikit.middleware.ProxyFix`); this module only says who the direct peer is. A
peer on a unix socket is trusted whatever the list says, as gunicorn does: only local processes
that may open the socket file (``--unix-mode``) can connect, i.e. the proxy in front::

    environ = build_environ(head, conn.info, stream)
    apply_proxies(conn, environ)
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from wsgikit._forwarded import has_proxy_headers
from wsgikit.types import WSGIEnvironment

if TYPE_CHECKING:
    from wsgikit.servers._connection import Connection

__all__ = ["apply_proxies"]


def apply_proxies(conn: Connection, environ: WSGIEnvironment) -> None:
    """Believe the proxy headers if the connection's peer is a trusted proxy; drop them if not."""
    proxies = conn.server.proxies
    if proxies is None or not has_proxy_headers(environ):
        return
    # A unix-socket peer has no address (REMOTE_ADDR says 127.0.0.1 and there is no port); a
    # PROXY protocol header that gave the client's address has put a port there.
    unix = conn.sock.family == socket.AF_UNIX and "REMOTE_PORT" not in environ
    proxies.apply(environ, peer_trusted=True if unix else None)
