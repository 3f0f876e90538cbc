"""CSRF: refuse cross-site forged requests (Django's CsrfViewMiddleware, Tornado's xsrf_cookies).

Use it when browsers post forms or call your API with cookies: every unsafe request (anything
but GET, HEAD, OPTIONS, TRACE; RFC 9110 §9.2.1) must carry the token the site gave out, in the
``csrf_token`` form field or the ``X-CSRF-Token`` header::

    app = CSRF(app, secret=os.environ["CSRF_SECRET"], trusted_origins=["https://*.example.com"])

    # in the app: environ["wsgikit.csrf_token"] is callable and str()-able
    f'<input type="hidden" name="csrf_token" value="{environ["wsgikit.csrf_token"]}">'

How: a random secret per browser, kept in a signed cookie (``wsgikit_csrf``), or in the
session when SessionMiddleware runs outside this middleware (``use_session``). Each page gets
it masked with a fresh pad (BREACH). An unsafe request passes when, in this order:
1. its ``Origin``, if sent, is the site's own or trusted; on HTTPS without Origin, its
   ``Referer`` is an HTTPS URL of the site or a trusted origin (Django's rules);
2. the token it carries (header first, else form field) unmasks to its secret.
Otherwise: 403 with a page saying which check failed, and a WARNING line on ``wsgikit.csrf``.
Form bodies are read and put back for the app (:mod:`._form`); urlencoded ones over
``max_form_size`` get 413. ``exempt_paths`` (prefixes) and ``exempt`` (a callable) skip the
checks, for webhooks and APIs authenticated otherwise.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta

from wsgikit.middleware._close import ClosingBody
from wsgikit.middleware._cookies import (
    check_attributes,
    check_max_age,
    check_name,
    check_secrets,
    secret_keys,
    signer,
)
from wsgikit.middleware._options import app_option, size_option
from wsgikit.middleware._paths import PathRule
from wsgikit.middleware._request_text import request_line
from wsgikit.middleware.csrf._form import FormTooLarge, form_token
from wsgikit.middleware.csrf._origin import TrustedOrigins, origin_problem
from wsgikit.middleware.csrf._token import TokenState, matches, well_formed
from wsgikit.types import OptExcInfo, StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["CSRF", "CSRFToken"]

ENVIRON_KEY = "wsgikit.csrf_token"
log = logging.getLogger("wsgikit.csrf")
_OWNER = "CSRF"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # RFC 9110 §9.2.1


class CSRFToken:
    """``environ["wsgikit.csrf_token"]``: ``token()`` or ``str(token)`` is this response's
    masked token (a base64url string, safe in HTML); ``rotate()`` makes a new secret (call it at
    login, as Django does, so a token planted before cannot be used after)."""

    __slots__ = ("_state",)

    def __init__(self, state: TokenState) -> None:
        self._state = state

    def __call__(self) -> str:
        return self._state.token()

    def __str__(self) -> str:
        return self._state.token()

    def __html__(self) -> str:  # Jinja2/MarkupSafe: already safe, base64url only
        return self._state.token()

    def rotate(self) -> None:
        self._state.rotate()

    def __repr__(self) -> str:
        return "<CSRFToken>"


class CSRF:
    """Check unsafe requests for a CSRF token and their origin; see the module docstring.

    ``secret`` (one, or a list: the first signs, all verify) signs the cookie. ``field_name``,
    ``header_name``, ``cookie_name``; ``max_age`` (seconds or timedelta, default a year) is the
    cookie's lifetime; ``path``, ``domain``, ``secure`` (None: by scheme), ``httponly``,
    ``samesite`` its attributes. ``trusted_origins``: other origins allowed to post
    (``https://example.com``, ``https://*.example.com``).
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        secret: str | bytes | Sequence[str | bytes],
        trusted_origins: Sequence[str] = (),
        exempt_paths: Sequence[str] = (),
        exempt: Callable[[WSGIEnvironment], bool] | None = None,
        use_session: bool = True,
        field_name: str = "csrf_token",
        header_name: str = "X-CSRF-Token",
        cookie_name: str = "wsgikit_csrf",
        max_age: int | timedelta = timedelta(days=365),
        path: str = "/",
        domain: str | None = None,
        secure: bool | None = None,
        httponly: bool = True,
        samesite: str | None = "Lax",
        max_form_size: int = 2_621_440,
    ) -> None:
        self.app = app_option(_OWNER, app)
        self.signer = signer(secret_keys(check_secrets(_OWNER, "secret", secret)), "wsgikit.csrf")
        self.trusted = TrustedOrigins(_OWNER, trusted_origins)
        self.exempt = PathRule(_OWNER, "exempt_paths", exempt_paths, exempt)
        if not isinstance(use_session, bool):
            raise TypeError(f"{_OWNER}: use_session must be True or False, got {use_session!r}")
        self.use_session = use_session
        self.field_name = check_name(_OWNER, "field_name", field_name)
        header = check_name(_OWNER, "header_name", header_name)
        self.header_key = "HTTP_" + header.upper().replace("-", "_")
        self.cookie_name = check_name(_OWNER, "cookie_name", cookie_name)
        self.max_age = check_max_age(_OWNER, "max_age", max_age)
        self.samesite = check_attributes(
            _OWNER, path=path, domain=domain, secure=secure, httponly=httponly, samesite=samesite
        )
        self.path, self.domain, self.secure, self.httponly = path, domain, secure, httponly
        self.max_form_size = size_option(_OWNER, "max_form_size", max_form_size)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        state = TokenState(self, environ)
        environ[ENVIRON_KEY] = CSRFToken(state)
        if environ.get("REQUEST_METHOD") not in _SAFE and not self.exempt.matches(environ):
            try:
                problem = self.problem(environ, state)
            except FormTooLarge:
                log.warning("form over max_form_size, answering 413: %s", request_line(environ))
                return _answer(environ, start_response, "413 Content Too Large", _TOO_LARGE)
            if problem is not None:
                state.close_body()
                log.warning(
                    "CSRF check failed, answering 403: %s: %s", request_line(environ), problem
                )
                return _answer(environ, start_response, "403 Forbidden", problem)

        def start(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            return start_response(status, state.response_headers(headers), exc_info)

        if state.body is None:
            return self.app(environ, start)
        try:
            result = self.app(environ, start)
        except BaseException:
            state.close_body()
            raise
        return ClosingBody(result, state.close_body)

    def problem(self, environ: WSGIEnvironment, state: TokenState) -> str | None:
        """Which check the unsafe request fails, or None."""
        problem = origin_problem(environ, self.trusted)
        if problem is not None:
            return problem
        secret = state.incoming()
        if secret is None:
            where = "session" if state.session is not None else f"cookie {self.cookie_name!r}"
            return f"CSRF {where} not set or not valid (a form from another site, or too old)"
        token = environ.get(self.header_key)
        source = "header"
        if token is None:
            token, state.body = form_token(
                environ, self.field_name, max_form_size=self.max_form_size
            )
            source = f"form field {self.field_name!r}"
        if token is None:
            return "CSRF token missing (no header and no form field)"
        if not well_formed(token):
            return f"CSRF token in the {source} is malformed"
        if not matches(token, secret):
            return f"CSRF token in the {source} is incorrect"
        return None

    def __repr__(self) -> str:
        return f"CSRF({self.app!r})"


_TOO_LARGE = "the form is larger than max_form_size"


def _answer(
    environ: WSGIEnvironment, start_response: StartResponse, status: str, reason: str
) -> list[bytes]:
    """A short page naming the failed check: HTML for browsers, plain text otherwise."""
    title = status
    if "text/html" in str(environ.get("HTTP_ACCEPT", "")):
        text = (
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>'
            f"<body><h1>{title}</h1><p>{html.escape(reason)}.</p></body></html>\n"
        )
        media = "text/html; charset=utf-8"
    else:
        text, media = f"{title}: {reason}.\n", "text/plain; charset=utf-8"
    body = text.encode("utf-8")
    headers = [("Content-Type", media), ("Content-Length", str(len(body)))]
    start_response(status, headers)
    return [body]  # never HEAD: a safe method is not checked
