"""Servers and gateways: the only package that touches sockets, selectors, signals and processes.

Example::

    from wsgikit.servers.http import serve
"""

from __future__ import annotations

__all__: list[str] = []
