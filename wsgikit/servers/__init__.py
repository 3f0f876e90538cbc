"""Servers and gateways: the only package that touches sockets, selectors, signals and processes.

Each server is a module: ``http`` (``Server``, ``Limits``, ``serve``), ``fastcgi``, ``scgi``,
``ajp`` and ``cgi``; they share the event loop (``_loop``), connections (``_connection``) and
request bodies (``_body``). Example::

    from wsgikit.servers.http import Limits, serve

    serve(app, ["127.0.0.1:8000"], threads=8, limits=Limits(max_body_size=10 << 20))
"""

from __future__ import annotations

__all__: list[str] = []
