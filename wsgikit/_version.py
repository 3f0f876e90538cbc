"""wsgikit's version, in a module of its own so that any tier can read it::

from wsgikit._version import __version__
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0.dev0"
