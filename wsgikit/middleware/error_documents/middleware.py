"""Replace the body of error responses (404, 500, ...) by a page your app serves.

Use it to give every "not found" or "server error" the site's own look without touching the code
that returns them. By default the page is fetched by an internal sub-request to the same app
(GET, no body) and sent with the *original* status and a fresh Content-Length::

    from wsgikit.middleware.error_documents import ErrorDocuments

    app = ErrorDocuments(app, {404: "/errors/404", 500: "/errors/500"})
    # GET /missing → 404 Not Found, body of GET /errors/404
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from wsgikit.middleware._options import app_option
from wsgikit.middleware.error_documents._exchange import Exchange
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ErrorDocuments"]


def _check_target(code: object, target: object, internal: bool) -> str:
    if type(code) is not int or not 400 <= code <= 599:
        raise ValueError(
            f"ErrorDocuments: documents keys must be int statuses 400-599, got {code!r}"
        )
    # A URL goes into a Location header or a request line: ASCII, no spaces or controls (RFC 3986).
    if (
        not isinstance(target, str)
        or not target.isascii()
        or not target.isprintable()
        or (" " in target)
    ):
        raise ValueError(f"ErrorDocuments: document for {code} must be a URL path, got {target!r}")
    parts = urlsplit(target)
    absolute = parts.scheme in ("http", "https") and bool(parts.netloc)
    if parts.fragment or not (target.startswith("/") or (absolute and not internal)):
        expected = "a path like '/errors/404'" + ("" if internal else " or an http(s) URL")
        raise ValueError(f"ErrorDocuments: document for {code} must be {expected}, got {target!r}")
    return target


class ErrorDocuments:
    """Serve ``documents[status]`` as the body of responses with that status.

    ``documents`` maps int statuses (400-599) to targets. ``internal=True`` (the default): the
    target is a path (``"/errors/404"``, a query allowed) fetched from the wrapped app under the
    same SCRIPT_NAME by a GET with no body and no conditional or Range headers; the environ
    carries the original request as ``wsgikit.error_documents.status``/``path_info``/
    ``query_string``/``method``. The client gets the original status and headers (Allow,
    WWW-Authenticate, Set-Cookie...) with the document's body, Content-Type and a fresh
    Content-Length. If the document cannot be fetched (exception, non-2xx) the original status
    goes out with a short plain-text body; a sub-request that comes back into an ErrorDocuments
    for a target already being fetched is a loop, answered with a plain 500.

    ``internal=False`` redirects instead, like Apache's ErrorDocument with a URL (and unlike
    paste.errordocument, which only forwards internally): ``302 Found`` to the target, which may
    also be an absolute http(s) URL. The original status is lost to the client (crawlers see a
    redirect, not a 404), which is why internal is the default. A request for the target itself
    is not redirected (no redirect loop) but gets the plain fallback.

    Raises ValueError/TypeError naming the option for bad arguments.
    """

    __slots__ = ("app", "codes", "documents", "internal")

    def __init__(
        self, app: WSGIApplication, documents: Mapping[int, str], *, internal: bool = True
    ) -> None:
        app = app_option("ErrorDocuments", app)
        if type(internal) is not bool:
            raise TypeError(f"ErrorDocuments: internal must be a bool, got {internal!r}")
        if not isinstance(documents, Mapping):
            raise TypeError(f"ErrorDocuments: documents must be a mapping, got {documents!r}")
        self.app = app
        self.internal = internal
        self.documents = {code: _check_target(code, t, internal) for code, t in documents.items()}
        self.codes = frozenset(str(code) for code in self.documents)  # matched on status[:3]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        exchange = Exchange(self, environ, start_response)
        return exchange.respond(self.app(environ, exchange.start_response))
