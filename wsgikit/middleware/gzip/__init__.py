"""Response compression: :class:`GzipMiddleware` (gzip, and br / zstd with the extras).

The class lives in :mod:`.middleware`; the private modules are its steps: ``_headers`` decides
from the status and headers whether to code, ``_exchange`` runs one response through the coder,
``_compressors`` wraps the gzip, brotli and zstd libraries::

    from wsgikit.middleware.gzip import GzipMiddleware

    app = GzipMiddleware(app, min_size=500, level=6, encodings=("br", "gzip"))
"""

from __future__ import annotations

from wsgikit.middleware.gzip.middleware import DEFAULT_MIME_TYPES, GzipMiddleware

__all__ = ["DEFAULT_MIME_TYPES", "GzipMiddleware"]
