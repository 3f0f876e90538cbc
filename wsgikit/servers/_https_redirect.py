"""Plain-HTTP listeners that send every request to HTTPS (``--redirect-https ADDR``).

The HTTP server marks the environ of connections accepted on such a listener with
:data:`REDIRECT_PORT`; :func:`redirecting` wraps the app so that those requests get the redirect
instead of the app: ``301`` for GET and HEAD, ``308`` for other methods (RFC 9110 §15.4.9: the
method and body are kept), to ``https://HOST[:PORT]/path?query``, as nginx's
``return 301 https://$host$request_uri`` does::

    Server(app, ["0.0.0.0:443"], tls=tls, redirect_https=["0.0.0.0:80"])
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["REDIRECT_PORT", "location", "redirecting"]

REDIRECT_PORT = "wsgikit.redirect_https_port"  # environ key: the HTTPS port to send clients to
# A host name, IPv4 address or bracketed IPv6 address (RFC 3986 §3.2.2), and an optional port:
# anything else in Host is not copied into a Location.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::[0-9]*)?")


def location(environ: WSGIEnvironment, port: int) -> str:
    """The https URL of the request: the Host's name (else SERVER_NAME), ``port``, the target."""
    match = _HOST.fullmatch(environ.get("HTTP_HOST", ""))
    host = match.group(1) if match else environ["SERVER_NAME"]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # SERVER_NAME of an IPv6 listener
    target = environ.get("REQUEST_URI") or "/"
    if not target.startswith("/"):  # absolute-form (RFC 9112 §3.2.2) or "*": keep path and query
        parts = urlsplit(target)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    suffix = "" if port == 443 else f":{port}"
    return f"https://{host}{suffix}{target}"


def redirecting(app: WSGIApplication) -> WSGIApplication:
    """``app``, except on redirect listeners: there every request is sent to HTTPS."""

    def redirect_or_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        port = environ.get(REDIRECT_PORT)
        if port is None:
            return app(environ, start_response)
        url = location(environ, port)
        method = environ["REQUEST_METHOD"]
        status = "301 Moved Permanently" if method in ("GET", "HEAD") else "308 Permanent Redirect"
        body = f"{status[4:]}: {url}\n".encode()
        headers: list[tuple[str, str]] = [
            ("Location", url),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ]
        start_response(status, headers)
        return [body]

    return redirect_or_app
