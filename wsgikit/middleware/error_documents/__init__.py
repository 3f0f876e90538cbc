"""Error responses (404, 500, ...) sent with a page your app serves: :class:`ErrorDocuments`.

The class lives in :mod:`.middleware`; ``_exchange`` decides, once the app's status is known,
whether to pass the response or replace it, and ``_forward`` fetches the document by an internal
sub-request::

    from wsgikit.middleware.error_documents import ErrorDocuments

    app = ErrorDocuments(app, {404: "/errors/404", 500: "/errors/500"})
"""

from __future__ import annotations

from wsgikit.middleware.error_documents.middleware import ErrorDocuments

__all__ = ["ErrorDocuments"]
