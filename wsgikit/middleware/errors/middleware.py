"""Turn unhandled exceptions into a 500 page, log them, and tell someone.

Put it outermost. Exceptions raised by the app's call or while its body is produced are logged
(logger ``wsgikit.error``, with the request line) and reported to ``notify``. Before the response
started the client gets a 500 page in HTML, plain text or JSON (by ``Accept``); once body bytes
went out the exception is passed up through ``start_response(..., exc_info)`` so that the server
closes the connection, as PEP 3333 asks: nothing is ever appended to a started body.

A :class:`wsgikit.ClientError` (what ``wsgi.input`` raises for a bad, stalled, cut or too large
request body) is the client's fault, not the app's: it gets its own status (400, 408, 413) with
a short page, one INFO line and no traceback, and ``notify`` is not called::

    from wsgikit.middleware.errors import ErrorMiddleware, SMTPNotifier, from_addresses

    app = ErrorMiddleware(app, debug=True, show_details_to=from_addresses("127.0.0.1", "::1"),
                          notify=SMTPNotifier("localhost", 25, "app@example.com", "me@example.com"))
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable

from wsgikit._environ import ClientError
from wsgikit.middleware._options import app_option
from wsgikit.middleware._request_text import request_line
from wsgikit.middleware.errors import _page as page
from wsgikit.middleware.errors._debug import render_html, traceback_text
from wsgikit.middleware.errors._guard import Guarded, HeadStart, caught
from wsgikit.middleware.errors._mail import SMTPNotifier
from wsgikit.middleware.errors._page import from_addresses
from wsgikit.types import ExcInfo, StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ErrorMiddleware", "SMTPNotifier", "from_addresses"]

Notify = Callable[[ExcInfo, WSGIEnvironment], object]
"""A reporter: called as ``notify(exc_info, environ)`` for each unhandled exception."""


class ErrorMiddleware:
    """Catch exceptions of the wrapped app: log, notify, answer 500 or abort a started response.

    ``debug``: show the traceback page (frames, source, locals, environ; secrets masked; no code
    execution) instead of the short page. It is bounded: 30 frames an exception (the first 10
    and the last 20), 50 locals a frame, 1000 characters a value, 1 s in the app's reprs, 1 MB
    in all; a repr that raises (even SystemExit) shows as ``<repr failed: ...>``.
    ``show_details_to``: a callable ``(environ) -> bool`` asked for each failed request whether
    that client may see the traceback; when given it decides alone, when ``None`` the answer is
    ``debug``. ``logger``: where tracebacks go
    (default ``logging.getLogger("wsgikit.error")``). ``notify``: a callable
    ``(exc_info, environ)`` such as :class:`SMTPNotifier`; its failures are logged, never raised.
    Only :class:`Exception` is caught: KeyboardInterrupt and SystemExit pass through.
    :class:`wsgikit.ClientError` is answered with its own status, logged at INFO, not notified.

    Each error gets a random reference, shown on the page, logged, and stored in
    ``environ["wsgikit.error_id"]`` (where ``notify`` finds it). To customise, override
    :meth:`error_page` (the 500 answer) or :meth:`report` (logging and notification).

    A write() callable is handed to the app untouched: if the app wrote body bytes and then
    raises, the server's start_response(..., exc_info) raises as PEP 3333 requires.
    """

    __slots__ = ("app", "debug", "logger", "notify", "show_details_to")

    def __init__(
        self,
        app: WSGIApplication,
        *,
        debug: bool = False,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        show_details_to: Callable[[WSGIEnvironment], bool] | None = None,
        notify: Notify | None = None,
    ) -> None:
        app = app_option("ErrorMiddleware", app)
        if type(debug) is not bool:
            raise TypeError(f"ErrorMiddleware: debug must be a bool, got {debug!r}")
        if logger is not None and not isinstance(logger, logging.Logger | logging.LoggerAdapter):
            raise TypeError(f"ErrorMiddleware: logger must be a logging.Logger, got {logger!r}")
        if show_details_to is not None and not callable(show_details_to):
            raise TypeError(
                f"ErrorMiddleware: show_details_to must be a callable(environ), "
                f"got {show_details_to!r}"
            )
        if notify is not None and not callable(notify):
            raise TypeError(
                f"ErrorMiddleware: notify must be a callable(exc_info, environ), got {notify!r}"
            )
        self.app = app
        self.debug = debug
        self.logger = logger if logger is not None else logging.getLogger("wsgikit.error")
        self.show_details_to = show_details_to
        self.notify = notify

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        head = None
        if environ.get("REQUEST_METHOD") == "HEAD":
            head = HeadStart(start_response)
            start_response = head.start_response
        try:
            result = self.app(environ, start_response)
        except Exception:
            # If the app already wrote body bytes with write(), the server raises here as
            # PEP 3333 requires of start_response(..., exc_info) after the headers went out.
            return self.failed(environ, start_response, False, caught())
        if head is None:
            if type(result) is list or type(result) is tuple:
                return result  # already computed: iterating cannot raise, no close() to pass on
            wrapper = environ.get("wsgi.file_wrapper")
            if isinstance(wrapper, type) and isinstance(result, wrapper):
                return result  # keep the server's sendfile path (PEP 3333 "File Handling")
        return Guarded(self, environ, start_response, result, head)

    def failed(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        sent: bool,
        exc_info: ExcInfo,
    ) -> list[bytes]:
        """Report the exception, then answer with the 500 page, or re-raise it when body bytes
        were ``sent`` already. A :class:`ClientError` is the client's fault: one INFO line, no
        traceback, nobody notified, and its own status (400, 408, 413) with a short page."""
        try:
            exc = exc_info[1]
            if isinstance(exc, ClientError):
                status = page.client_status(exc.status)
                line = request_line(environ)
                self.logger.info("client error %s in %s: %s", status, line, exc.detail)
            else:
                status = page.STATUS
                self.report(environ, exc_info)
            if sent:
                # PEP 3333: start_response with exc_info after the headers went out must raise;
                # the server then aborts the connection. Raise ourselves if it does not.
                start_response(status, [("Content-Type", "text/plain")], exc_info)
                raise exc
            try:
                if isinstance(exc, ClientError):
                    status, headers, body = self.client_page(environ, status, exc.detail)
                else:
                    status, headers, body = self.error_page(environ, exc_info)
            except Exception:  # an override (or a bug) must not become a second crash
                self.logger.exception("building the error page failed")
                body = f"{status}\n".encode()
                headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            start_response(status, headers, exc_info)
            # RFC 9110 §9.3.2: a HEAD response has the GET headers (Content-Length too), no body.
            return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
        finally:
            del exc_info, exc  # a traceback holds every frame's locals: do not keep it in a cycle

    def report(self, environ: WSGIEnvironment, exc_info: ExcInfo, what: str = "") -> str:
        """Log the traceback with the request line and call ``notify``; return the error id."""
        error_id = secrets.token_hex(6)
        environ["wsgikit.error_id"] = error_id
        self.logger.error(
            "error %s%s in %s",
            error_id,
            what,
            request_line(environ),
            exc_info=exc_info,
        )
        if self.notify is not None:
            try:
                self.notify(exc_info, environ)
            except Exception:  # a reporter that fails must not become a second crash
                self.logger.exception("error %s: notify (%r) failed", error_id, self.notify)
        return error_id

    def show_details(self, environ: WSGIEnvironment) -> bool:
        """Whether this request's client gets the traceback (see ``show_details_to``)."""
        if self.show_details_to is None:
            return self.debug
        try:
            return bool(self.show_details_to(environ))
        except Exception:  # fail closed: an error in the predicate shows no details
            self.logger.exception("show_details_to (%r) failed", self.show_details_to)
            return False

    def client_page(
        self, environ: WSGIEnvironment, status: str, detail: str
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Status, headers and body of the answer to a :class:`ClientError` (no details, no
        error reference: nothing was logged as an error)."""
        media_type = page.negotiate(environ)
        body = page.simple_page(media_type, "", status=status, message=detail)
        return status, page.error_headers(media_type, body), body

    def error_page(
        self, environ: WSGIEnvironment, exc_info: ExcInfo
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Status, headers and body of the 500 answer for this request."""
        media_type = page.negotiate(environ)
        error_id = str(environ.get("wsgikit.error_id", ""))
        body: bytes | None = None
        if self.show_details(environ):
            try:
                if media_type == "text/html":
                    body = render_html(exc_info, environ, error_id)
                else:
                    details = traceback_text(exc_info)
                    body = page.simple_page(media_type, error_id, traceback_text=details)
            except Exception:  # the debug renderer must never turn into a second crash
                self.logger.exception("error %s: rendering the debug page failed", error_id)
        if body is None:
            body = page.simple_page(media_type, error_id)
        return page.STATUS, page.error_headers(media_type, body), body
