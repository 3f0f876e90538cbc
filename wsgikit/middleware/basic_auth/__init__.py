"""BasicAuth: HTTP Basic authentication (RFC 7617) against a checker callable or an htpasswd file.

``middleware.py`` holds the class; ``_htpasswd.py`` reads and checks htpasswd files, ``_apr1.py``
is Apache's MD5-crypt.
"""

from __future__ import annotations

from wsgikit.middleware.basic_auth.middleware import BasicAuth

__all__ = ["BasicAuth"]
