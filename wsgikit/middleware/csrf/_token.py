"""The CSRF secret of one request and the masked tokens made from it. Private to
:mod:`wsgikit.middleware.csrf`.

Each browser has a random 32-byte secret, kept in a signed cookie (or in the session). Pages get
it masked, as Django does against BREACH (compression must not reveal a constant secret in
every response): a fresh random pad, then the secret XOR the pad, base64url::

    token = mask(secret)         # 86 characters, different every time
    matches(token, secret)       # True; compared in constant time
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from typing import IO, TYPE_CHECKING, Any

from itsdangerous import BadData

from wsgikit.middleware._cookies import (
    CookieAttributes,
    cookie_values,
    set_cookie,
    varies_by_cookie,
)
from wsgikit.types import WSGIEnvironment

if TYPE_CHECKING:
    from wsgikit.middleware.csrf.middleware import CSRF

_SIZE = 32  # bytes of secret, and of pad
_TOKEN_LENGTH = 86  # base64url of pad + masked secret, unpadded
_secret_text = re.compile(r"[A-Za-z0-9_-]{43}\Z").match  # base64url of 32 bytes, unpadded
_token_text = re.compile(r"[A-Za-z0-9_-]{86}\Z").match
#: Where the secret lives in a SessionMiddleware session.
SESSION_KEY = "wsgikit.csrf_secret"
_MAX_CANDIDATES = 8  # values of the cookie tried (paths, domains): each costs an HMAC check


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def mask(secret: str) -> str:
    pad = secrets.token_bytes(_SIZE)
    masked = int.from_bytes(pad) ^ int.from_bytes(_decode(secret))
    return _encode(pad + masked.to_bytes(_SIZE))


def matches(token: str, secret: str) -> bool:
    """Whether ``token`` is ``secret`` masked; the comparison takes constant time."""
    if not _token_text(token):
        return False
    raw = _decode(token)
    unmasked = int.from_bytes(raw[:_SIZE]) ^ int.from_bytes(raw[_SIZE:])
    return hmac.compare_digest(unmasked.to_bytes(_SIZE), _decode(secret))


def well_formed(token: str) -> bool:
    return bool(_token_text(token))


class TokenState:
    """The secret of one request: the one it brought (cookie or session), or a new one made
    when a page first asks for a token."""

    def __init__(self, middleware: CSRF, environ: WSGIEnvironment) -> None:
        self.middleware, self.environ = middleware, environ
        session = environ.get("wsgikit.session") if middleware.use_session else None
        self.session: Any = session
        self.loaded = False
        self.secret: str | None = None
        self.new = False  # a secret made in this request: the response must carry it
        self.headers_sent = False  # start_response was called: no cookie can be added
        self.masked: str | None = None
        self.body: IO[bytes] | None = None  # the copy of a form body that is now wsgi.input

    def close_body(self) -> None:
        if self.body is not None:
            self.body.close()

    def incoming(self) -> str | None:
        """The valid secret the request brought, or None; read once."""
        if not self.loaded:
            self.loaded = True
            self.secret = self._from_session() if self.session is not None else self._from_cookie()
        return self.secret

    def token(self) -> str:
        """A masked token for this response (one a request), making the secret if needed."""
        if self.masked is None:
            secret = self.incoming()
            if secret is None:
                secret = self.rotate()
            self.masked = mask(secret)
        return self.masked

    def rotate(self) -> str:
        """A new secret (at login, say): tokens of the old one stop working."""
        if self.headers_sent and self.session is None:
            raise RuntimeError(
                "CSRF: a new token was asked for after start_response, too late for its cookie: "
                "get str(environ['wsgikit.csrf_token']) before calling start_response"
            )
        self.loaded, self.new, self.masked = True, True, None
        self.secret = secrets.token_urlsafe(_SIZE)
        if self.session is not None:
            self.session[SESSION_KEY] = self.secret
        return self.secret

    def response_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """``headers``, plus the cookie of a new secret, plus ``Vary: Cookie`` when the page
        holds a token (RFC 9110 §12.5.5: a shared cache must not give one browser's token to
        another, whose POST would then fail). Later new secrets are refused."""
        self.headers_sent = True
        extra = []
        cookie = self.set_cookie()
        if cookie is not None:
            extra.append(("Set-Cookie", cookie))
        if self.masked is not None and not varies_by_cookie(headers):
            extra.append(("Vary", "Cookie"))
        return [*headers, *extra] if extra else headers

    def set_cookie(self) -> str | None:
        """The Set-Cookie value carrying a new secret, or None."""
        if not self.new or self.session is not None or self.secret is None:
            return None
        mw = self.middleware
        secure = mw.secure
        if secure is None:
            secure = self.environ.get("wsgi.url_scheme") == "https"
        attrs = CookieAttributes(mw.path, mw.domain, mw.max_age, secure, mw.httponly, mw.samesite)
        value = mw.signer.sign(self.secret).decode("ascii")
        return set_cookie(mw.cookie_name, value, attrs)

    def _from_session(self) -> str | None:
        value = self.session.get(SESSION_KEY)
        return value if isinstance(value, str) and _secret_text(value) else None

    def _from_cookie(self) -> str | None:
        mw = self.middleware
        for value in cookie_values(self.environ, mw.cookie_name, _MAX_CANDIDATES):
            try:
                secret = mw.signer.unsign(value, max_age=mw.max_age).decode("ascii")
            except (BadData, UnicodeError):  # tampered, expired or not ours: a new one is made
                continue
            if _secret_text(secret):
                return secret
        return None
