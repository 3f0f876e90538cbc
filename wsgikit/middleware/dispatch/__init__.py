"""Several WSGI apps under URL prefixes (and hosts) of one server: :class:`Dispatcher`.

The class lives in :mod:`.middleware`; ``_mounts`` normalises mount keys and Host values and
finds the longest mounted prefix, and ``_replies`` answers what no mounted app gets (the
trailing-slash redirect, the 404)::

    from wsgikit.middleware.dispatch import Dispatcher

    app = Dispatcher({"/": site, "/admin": admin, "https://api.example.com/v1": api})
"""

from __future__ import annotations

from wsgikit.middleware.dispatch.middleware import Dispatcher

__all__ = ["Dispatcher"]
