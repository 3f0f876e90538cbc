"""SignedCookies: read and write signed, timestamped cookies through the environ.

Use it when the app must trust a small value it keeps in the browser (a user id, a preference)
without server-side state: Tornado's ``get_secure_cookie``/``set_secure_cookie`` for any WSGI
app. Values are signed (HMAC-SHA256 by itsdangerous), not encrypted: the client can read them::

    app = SignedCookies(app, secret=[NEW_SECRET, OLD_SECRET])   # the first signs, all verify

    def app(environ, start_response):
        cookies = environ["wsgikit.signed_cookies"]
        user = cookies.get("user")                    # None: absent, tampered, expired, junk
        cookies.set("user", {"id": 7}, max_age=3600)  # any JSON value; before start_response
        cookies.delete("flash")

The Set-Cookie headers join the app's when it calls start_response; ``set()`` after that raises
RuntimeError. A cookie is signed together with its name, so a value cannot be moved to another
cookie. A tampered, expired or malformed cookie reads as None and logs one DEBUG line on
``wsgikit.signed_cookies``, never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from wsgikit.middleware._cookies import (
    CookieAttributes,
    check_attributes,
    check_max_age,
    check_name,
    check_secrets,
    cookie_values,
    secret_keys,
    set_cookie,
)
from wsgikit.middleware._options import app_option
from wsgikit.types import OptExcInfo, StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["SignedCookieJar", "SignedCookies"]

ENVIRON_KEY = "wsgikit.signed_cookies"
log = logging.getLogger("wsgikit.signed_cookies")
_OWNER = "SignedCookies"
# RFC 6265 §6.1: browsers keep at least 4096 bytes a cookie (name, value and attributes).
_MAX_COOKIE = 4096
_MAX_CANDIDATES = 8  # values of one name tried (paths, domains): each costs an HMAC check


class SignedCookies:
    """Put a :class:`SignedCookieJar` at ``environ["wsgikit.signed_cookies"]``.

    ``secret``: one secret or a list (the first signs, all verify: rotate by putting the new
    one first). ``max_age`` (seconds or timedelta, default 31 days) is the default lifetime of
    a cookie set and the oldest signature ``get`` accepts. ``path``, ``domain``, ``secure``
    (None: Secure on https requests only), ``httponly``, ``samesite`` are the defaults of
    ``set``; ``salt`` separates these signatures from other uses of the same secret.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        secret: str | bytes | Sequence[str | bytes],
        max_age: int | timedelta = timedelta(days=31),
        path: str = "/",
        domain: str | None = None,
        secure: bool | None = None,
        httponly: bool = True,
        samesite: str | None = "Lax",
        salt: str = "wsgikit.signed_cookies",
    ) -> None:
        self.app = app_option(_OWNER, app)
        keys = secret_keys(check_secrets(_OWNER, "secret", secret))
        if not isinstance(salt, str) or not salt:
            raise ValueError(f"{_OWNER}: salt must be a non-empty str, got {salt!r}")
        self.max_age = check_max_age(_OWNER, "max_age", max_age)
        self.secure = secure
        samesite = check_attributes(
            _OWNER, path=path, domain=domain, secure=secure, httponly=httponly, samesite=samesite
        )
        self.defaults = CookieAttributes(
            path, domain, self.max_age, bool(secure), httponly, samesite
        )
        self.serializer = URLSafeTimedSerializer(
            keys,
            salt=salt,
            serializer=_StrictJSON,
            signer_kwargs={"digest_method": hashlib.sha256},
        )
        # Each cookie is signed with its name in the salt: a value signed for one name fails as
        # another (Tornado signs the name in too).
        self.salt = salt.encode("utf-8") + b"|"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        jar = SignedCookieJar(self, environ)
        environ[ENVIRON_KEY] = jar

        def start(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            return start_response(status, jar.response_headers(headers), exc_info)

        return self.app(environ, start)

    def __repr__(self) -> str:
        return f"SignedCookies({self.app!r}, max_age={self.max_age})"


class SignedCookieJar:
    """One request's signed cookies: ``get`` reads the request's, ``set``/``delete`` add
    Set-Cookie headers to the response."""

    __slots__ = ("_environ", "_middleware", "_pending", "_started")

    def __init__(self, middleware: SignedCookies, environ: WSGIEnvironment) -> None:
        self._middleware, self._environ = middleware, environ
        # (name, path, domain) -> Set-Cookie: the browser keeps one cookie for each (RFC 6265
        # §5.3 step 11), so a second set() or delete() of it replaces the first.
        self._pending: dict[tuple[str, str, str | None], str] = {}
        self._started = False

    def get(self, name: str, *, max_age: int | timedelta | None = None) -> Any:
        """The value of signed cookie ``name``, or None if absent, tampered, expired (older
        than ``max_age``, default the middleware's) or malformed."""
        name = check_name(_OWNER, "name", name)
        limit = self._middleware.max_age
        if max_age is not None:
            limit = check_max_age(_OWNER, "max_age", max_age)
        serializer = self._middleware.serializer
        for value in cookie_values(self._environ, name, _MAX_CANDIDATES):
            try:
                return serializer.loads(
                    value, max_age=limit, salt=self._middleware.salt + name.encode("ascii")
                )
            except SignatureExpired:
                reason = f"expired (older than {limit} s)"
            except BadData:  # a bad signature or a payload that is not ours
                reason = "tampered or malformed"
            log.debug("signed cookie %r ignored: %s", name, reason)
        return None

    def set(
        self,
        name: str,
        value: Any,
        *,
        max_age: int | timedelta | None = None,
        path: str | None = None,
        domain: str | None = None,
        secure: bool | None = None,
        httponly: bool | None = None,
        samesite: str | None = "",
    ) -> None:
        """Sign ``value`` (any JSON value) into cookie ``name``; None attributes (and
        ``samesite=""``) take the middleware's defaults. Raises TypeError/ValueError for a value
        JSON cannot hold or a cookie over 4096 bytes, RuntimeError once the response started."""
        name = check_name(_OWNER, "name", name)
        attrs = self._attributes(
            max_age=max_age,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )
        serializer = self._middleware.serializer
        try:
            signed = serializer.dumps(value, salt=self._middleware.salt + name.encode("ascii"))
        except (TypeError, ValueError, RecursionError) as exc:
            raise TypeError(f"{_OWNER}: the value of {name!r} is not JSON: {exc}") from None
        header = set_cookie(name, str(signed), attrs)
        if len(header) > _MAX_COOKIE:
            raise ValueError(
                f"{_OWNER}: cookie {name!r} is {len(header)} bytes, over the {_MAX_COOKIE} "
                "browsers keep (RFC 6265 §6.1)"
            )
        self._add(name, attrs, header)

    def delete(self, name: str, *, path: str | None = None, domain: str | None = None) -> None:
        """Make the browser drop cookie ``name`` (Max-Age=0); give the ``path`` and ``domain``
        it was set with."""
        name = check_name(_OWNER, "name", name)
        attrs = self._attributes(
            max_age=None, path=path, domain=domain, secure=None, httponly=None, samesite=""
        )
        self._add(name, attrs, set_cookie(name, "", replace(attrs, max_age=0)))

    def response_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """``headers`` with the Set-Cookie headers added so far; later ``set`` calls fail."""
        self._started = True
        pending, self._pending = self._pending, {}
        return [*headers, *(("Set-Cookie", v) for v in pending.values())] if pending else headers

    def _add(self, name: str, attrs: CookieAttributes, header: str) -> None:
        if self._started:
            raise RuntimeError(
                f"{_OWNER}: a cookie was set after start_response: set it before the headers go"
            )
        self._pending[name, attrs.path, attrs.domain] = header

    def _attributes(
        self,
        *,
        max_age: int | timedelta | None,
        path: str | None,
        domain: str | None,
        secure: bool | None,
        httponly: bool | None,
        samesite: str | None,
    ) -> CookieAttributes:
        mw, base = self._middleware, self._middleware.defaults
        if secure is None:
            secure = mw.secure
        if secure is None:
            secure = self._environ.get("wsgi.url_scheme") == "https"
        path = base.path if path is None else path
        domain = base.domain if domain is None else domain
        httponly = base.httponly if httponly is None else httponly
        samesite = base.samesite if samesite == "" else samesite
        samesite = check_attributes(
            _OWNER, path=path, domain=domain, secure=secure, httponly=httponly, samesite=samesite
        )
        age = base.max_age if max_age is None else check_max_age(_OWNER, "max_age", max_age)
        return CookieAttributes(path, domain, age, secure, httponly, samesite)

    def __repr__(self) -> str:
        return f"<SignedCookieJar {len(self._pending)} pending>"


class _StrictJSON:
    """itsdangerous's serializer: compact JSON without NaN or Infinity, which JSON lacks
    (RFC 8259 §6) and other readers of the cookie would refuse."""

    @staticmethod
    def dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    @staticmethod
    def loads(payload: str | bytes) -> Any:
        return json.loads(payload)
