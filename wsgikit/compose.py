"""Build a stack of middleware around an app, in the order requests pass through it.

Layers are listed outermost first, as in a PasteDeploy ``[pipeline:...]``: the first layer sees the
request first and the response last. A layer is any callable that takes an app and returns an app::

    app = pipeline(ErrorMiddleware, functools.partial(GzipMiddleware, level=9), app=site)
    # same as ErrorMiddleware(GzipMiddleware(site, level=9))
"""

from __future__ import annotations

from wsgikit.types import Middleware, WSGIApplication

__all__ = ["pipeline"]


def _name(obj: object) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__qualname__


def pipeline(*layers: Middleware, app: WSGIApplication) -> WSGIApplication:
    """Wrap ``app`` in ``layers`` so that ``layers[0]`` is the outermost.

    Raises TypeError naming the offending layer when a layer is not callable or returns
    something that is not a WSGI app (not callable).
    """
    if not callable(app):
        raise TypeError(f"pipeline(): app must be a WSGI callable, got {app!r}")
    for index, layer in enumerate(layers):
        if not callable(layer):
            raise TypeError(f"pipeline(): layer {index} ({layer!r}) is not callable")
    wrapped = app
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        result = layer(wrapped)
        if not callable(result):
            raise TypeError(
                f"pipeline(): layer {index} ({_name(layer)}) returned {result!r}, not a WSGI app"
            )
        wrapped = result
    return wrapped
