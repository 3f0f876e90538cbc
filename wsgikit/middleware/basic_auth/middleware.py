"""BasicAuth: ask for a user name and password (HTTP Basic, RFC 7617) before the app runs.

Use it when a staging site, an admin tool or an internal API needs a password and no login
page (paste.auth.basic, Apache's ``AuthType Basic``); over HTTPS only, as the password travels
in every request::

    app = BasicAuth(app, realm="staging", htpasswd="/etc/app/htpasswd", open_paths=["/health"])
    app = BasicAuth(app, realm="api", checker=lambda user, password, environ: ...)

A request without valid credentials gets ``401`` and ``WWW-Authenticate: Basic realm="...",
charset="UTF-8"``; a valid one reaches the app with ``REMOTE_USER`` and ``AUTH_TYPE="Basic"``.
Malformed Authorization headers (not Basic, bad base64, no colon, not UTF-8, control
characters) are a 401 with an INFO line, wrong passwords a 401 with a WARNING line (logger
``wsgikit.basic_auth``), never a 500. The htpasswd file is read again when it changes; see
:mod:`._htpasswd` for the hashes supported.
"""

from __future__ import annotations

import binascii
import os
import re
from collections.abc import Callable, Iterable, Sequence

from wsgikit.middleware._options import app_option
from wsgikit.middleware._paths import PathRule
from wsgikit.middleware._request_text import request_line
from wsgikit.middleware.basic_auth._htpasswd import HtpasswdFile, log
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["BasicAuth"]

Checker = Callable[[str, str, WSGIEnvironment], bool]
_OWNER = "BasicAuth"
_CTL = re.compile(r"[\x00-\x1f\x7f]")  # RFC 7617 §2: no control characters in user or password
_realm_text = re.compile(r'[^"\\\x00-\x1f\x7f]+\Z').match  # a quoted-string without escapes
_MAX_HEADER = 8192  # base64 of more than 6 KB of credentials is no login


class BasicAuth:
    """Let through requests with valid Basic credentials and those ``open_paths``/``is_open``
    leave open; answer 401 otherwise.

    Give exactly one of ``checker`` (``(user, password, environ) -> bool``) and ``htpasswd``
    (a file path). ``open_paths`` are path prefixes (whole segments) and ``is_open`` a callable
    ``(environ) -> bool``: requests they match need no credentials.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        realm: str,
        checker: Checker | None = None,
        htpasswd: str | os.PathLike[str] | None = None,
        open_paths: Sequence[str] = (),
        is_open: Callable[[WSGIEnvironment], bool] | None = None,
    ) -> None:
        self.app = app_option(_OWNER, app)
        if not isinstance(realm, str) or not _realm_text(realm):
            raise ValueError(
                f"{_OWNER}: realm must be a non-empty str without '\"', '\\' or control "
                f"characters, got {realm!r}"
            )
        if (checker is None) == (htpasswd is None):
            raise TypeError(f"{_OWNER}: give exactly one of checker and htpasswd")
        if checker is not None and not callable(checker):
            raise TypeError(f"{_OWNER}: checker must be callable, got {checker!r}")
        self.realm = realm
        self.users = HtpasswdFile(htpasswd) if htpasswd is not None else None
        self.checker = checker
        self.open = PathRule(_OWNER, "open_paths", open_paths, is_open)
        self.challenge = f'Basic realm="{realm}", charset="UTF-8"'  # RFC 7617 §2, §2.1

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.open.matches(environ):
            return self.app(environ, start_response)
        user = self.authenticate(environ)
        if user is None:
            return self.unauthorized(environ, start_response)
        environ["REMOTE_USER"] = user
        environ["AUTH_TYPE"] = "Basic"
        return self.app(environ, start_response)

    def authenticate(self, environ: WSGIEnvironment) -> str | None:
        """The user whose credentials the request carries, or None (logged unless absent)."""
        header = environ.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        credentials, problem = _decode(header)
        if credentials is None:
            log.info("malformed Authorization header (%s): %s", problem, _who(environ))
            return None
        user, password = credentials
        if self.users is not None:
            valid = self.users.check(user, password)
        else:
            assert self.checker is not None
            valid = bool(self.checker(user, password, environ))
        if not valid:
            log.warning("wrong user name or password for %r: %s", user, _who(environ))
            return None
        return user

    def unauthorized(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        body = b"401 Unauthorized: this resource needs a user name and password.\n"
        start_response(
            "401 Unauthorized",
            [
                ("WWW-Authenticate", self.challenge),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def __repr__(self) -> str:
        source = self.users if self.users is not None else self.checker
        return f"BasicAuth({self.app!r}, realm={self.realm!r}, {source!r})"


def _decode(header: str) -> tuple[tuple[str, str] | None, str]:
    """((user, password), "") from an Authorization header, or (None, what is wrong)."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":  # RFC 9110 §11.1: the scheme is case-insensitive
        return None, "not Basic"
    token = token.strip()
    if len(token) > _MAX_HEADER:
        return None, "too long"
    try:
        raw = binascii.a2b_base64(token.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeError):
        return None, "bad base64"
    try:
        text = raw.decode("utf-8")  # RFC 7617 §2.1: we announce charset="UTF-8"
    except UnicodeError:
        return None, "not UTF-8"
    user, colon, password = text.partition(":")
    if not colon:
        return None, "no colon"
    if _CTL.search(text):
        return None, "control characters"
    return (user, password), ""


def _who(environ: WSGIEnvironment) -> str:
    return f"{request_line(environ)} from {environ.get('REMOTE_ADDR', '?')}"
