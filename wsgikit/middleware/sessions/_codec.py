"""The session cookie: reading it from the Cookie header, signing and checking values, and writing
Set-Cookie. Private to :mod:`wsgikit.middleware.sessions`; the middleware holds one.

Values are signed with itsdangerous (HMAC-SHA256, a timestamp checked against ``max_age``), with
the current secret last in the key list so that ``secret_fallbacks`` still verify::

    codec.sign_data({"user": 1})  ->  "eyJ1c2VyIjoxfQ.Zq3x9w.T0h..."
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import replace
from email.utils import formatdate
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode

from wsgikit.middleware._cookies import (
    EPOCH,
    CookieAttributes,
    cookie_template,
    cookie_values,
    secret_keys,
    signer,
)
from wsgikit.middleware.sessions._errors import SessionDataError
from wsgikit.types import WSGIEnvironment

# Distinct salts: a signed data cookie never passes as a signed id, and the other way round.
_DATA_SALT = "wsgikit.sessions.data"
_ID_SALT = "wsgikit.sessions.id"
_COMPRESS_OVER = 200  # bytes of JSON; below, zlib's header costs more than it saves
_session_id = re.compile(r"[A-Za-z0-9_-]{43}\Z").match  # secrets.token_urlsafe(32)
#: Values of our cookie a request may offer, once each: a browser sends one a matching Path and
#: Domain (RFC 6265 §5.4), rarely more than 2 or 3; each costs an HMAC check and maybe a store
#: lookup, so a header that repeats the cookie hundreds of times must not cost hundreds.
MAX_CANDIDATES = 8


def dump_json(data: dict[str, Any]) -> str:
    """Compact JSON, or :class:`SessionDataError` naming what JSON cannot hold."""
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:  # a set, bytes; NaN; a cycle; depth
        raise SessionDataError(f"the session cannot be saved as JSON: {exc}") from None


def load_json(text: str | bytes) -> dict[str, Any] | None:
    """The dict in ``text``, or None when it is not a JSON object."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if type(data) is dict else None


class Codec:
    """Everything about the cookie of one SessionMiddleware."""

    def __init__(
        self,
        *,
        secret: str | bytes,
        fallbacks: Sequence[str | bytes],
        name: str,
        max_age: int,
        httponly: bool,
        samesite: str | None,
        path: str,
        domain: str | None,
        secure: bool | None,
    ) -> None:
        self.name, self.max_age = name, max_age
        self.clash_seen = False  # the app was seen setting a cookie of our name (warned once)
        # itsdangerous signs with the last key and verifies with each, newest first.
        keys = secret_keys([secret, *fallbacks])
        self._data = signer(keys, _DATA_SALT)
        self._ids = signer(keys, _ID_SALT)
        # Verified first with the current secret alone: a value only a fallback verifies is
        # re-signed, so sessions move to the new key before the old one is retired.
        self._rotating = bool(fallbacks)
        self._data_now = signer(keys[-1:], _DATA_SALT)
        self._ids_now = signer(keys[-1:], _ID_SALT)
        # The attributes never change: WebOb serialises them once, per value Secure can take.
        flags = (False, True) if secure is None else (secure,)
        attrs = CookieAttributes(path, domain, max_age, False, httponly, samesite)
        self._templates = {
            flag: cookie_template(name, replace(attrs, secure=flag)) for flag in flags
        }
        self._expired = {
            flag: cookie_template(name, replace(attrs, max_age=0, secure=flag)) % ("", EPOCH)
            for flag in flags
        }
        self._expires = (0, "")  # (second, Expires value): formatted once a second

    def candidates(self, environ: WSGIEnvironment) -> list[str]:
        """The distinct values of our cookie in the request, most specific path first (RFC 6265
        §5.4), at most :data:`MAX_CANDIDATES`."""
        return cookie_values(environ, self.name, MAX_CANDIDATES)

    def clashes(self, headers: list[tuple[str, str]]) -> bool:
        """Whether ``headers`` (the app's response) set a cookie of our name: the first time
        only, so that the warning is logged once a middleware, not once a request."""
        if self.clash_seen:
            return False
        prefix = self.name + "="
        for name, value in headers:
            if name.lower() == "set-cookie" and value.lstrip().startswith(prefix):
                self.clash_seen = True
                return True
        return False

    def read_data(self, value: str) -> tuple[dict[str, Any] | None, bool]:
        """(session data, signed with an old secret) of a cookie value; None if not valid."""
        payload, old = self._unsign(self._data_now, self._data, value)
        if payload is None:
            return None, False
        try:
            if payload[:1] == b".":  # compressed; signed by us, so no zip bomb to fear
                payload = zlib.decompress(base64_decode(payload[1:]))
            else:
                payload = base64_decode(payload)
        except (BadData, zlib.error):
            return None, False
        data = load_json(payload)
        return (data, old) if data is not None else (None, False)

    def read_id(self, value: str) -> tuple[str | None, bool]:
        """(session id, signed with an old secret) of a cookie value; None if not valid."""
        raw, old = self._unsign(self._ids_now, self._ids, value)
        sid = raw.decode("ascii", "replace") if raw is not None else ""
        return (sid, old) if _session_id(sid) else (None, False)

    def _unsign(
        self, now: TimestampSigner, every: TimestampSigner, value: str
    ) -> tuple[bytes | None, bool]:
        try:
            return now.unsign(value, max_age=self.max_age), False
        except SignatureExpired:  # the current secret signed it, too long ago
            return None, False
        except BadData:  # tampered, malformed, or signed with a fallback secret
            if not self._rotating:
                return None, False
        try:
            return every.unsign(value, max_age=self.max_age), True
        except BadData:
            return None, False

    def sign_data(self, data: dict[str, Any]) -> str:
        """The signed cookie value for ``data``: base64url JSON, zlib-compressed when it helps."""
        raw = dump_json(data).encode("utf-8")
        payload = base64_encode(raw)
        if len(raw) > _COMPRESS_OVER:
            packed = b"." + base64_encode(zlib.compress(raw, 6))
            payload = packed if len(packed) < len(payload) else payload
        return self._data.sign(payload).decode("ascii")

    def sign_id(self, session_id: str) -> str:
        return self._ids.sign(session_id).decode("ascii")

    def set_cookie(self, value: str, secure: bool) -> str:
        """The Set-Cookie value that stores ``value`` for ``max_age`` seconds."""
        now = int(time.time())
        second, expires = self._expires
        if second != now:
            # Max-Age wins where known (RFC 6265 §5.3 step 3); Expires serves older clients, as an
            # IMF-fixdate (RFC 9110 §5.6.7).
            expires = formatdate(now + self.max_age, usegmt=True)
            self._expires = (now, expires)
        return self._templates[secure] % (value, expires)

    def expire_cookie(self, secure: bool) -> str:
        """The Set-Cookie value that makes the browser drop the cookie now."""
        return self._expired[secure]
