"""StaticFiles: serve directories of files under URL prefixes (see :mod:`.middleware`).

``compress_directory`` writes the precompressed siblings it serves (``wsgikit compress DIR``).
"""

from __future__ import annotations

from wsgikit.middleware.static._precompress import CompressReport, compress_directory
from wsgikit.middleware.static.middleware import StaticFiles

__all__ = ["CompressReport", "StaticFiles", "compress_directory"]
