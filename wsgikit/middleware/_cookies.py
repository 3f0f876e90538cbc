"""Signed cookies, the part SessionMiddleware, SignedCookies and CSRF share: checking secrets and
cookie attributes, signing with itsdangerous, reading a cookie's values from the Cookie header
and writing Set-Cookie values::

    keys = secret_keys(check_secrets("SignedCookies", "secret", secret))  # first key signs
    signer(keys, "wsgikit.csrf").sign(b"token")
    cookie_values(environ, "wsgikit_csrf")          # -> ["token.Zq3x9w.T0h..."]
    set_cookie("wsgikit_csrf", value, CookieAttributes(path="/", max_age=3600, secure=True))

Cookies are read with WebOb's parser, which skips another app's malformed cookie instead of
dropping the rest of the header as the stdlib's ``http.cookies`` does.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formatdate
from itertools import islice

from itsdangerous import TimestampSigner

from wsgikit._wsgi_rules import is_token  # RFC 6265 §4.1.1: a cookie-name is a token
from wsgikit.middleware._webob import Morsel, parse_cookie
from wsgikit.types import WSGIEnvironment

__all__ = [
    "EPOCH",
    "CookieAttributes",
    "check_attributes",
    "check_max_age",
    "check_name",
    "check_secret",
    "check_secrets",
    "cookie_template",
    "cookie_values",
    "expires_date",
    "secret_keys",
    "set_cookie",
    "signer",
    "varies_by_cookie",
]

EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"
_VALUE_MARK, _EXPIRES_MARK = b"wsgikitVALUEmark", b"wsgikitEXPIRESmark"
_attr_text = re.compile(r"[\x21-\x3a\x3c-\x7e]+\Z").match  # RFC 6265 §4.1.1: no CTL, space, ";"
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


def check_secret(name: str, secret: object) -> str | bytes:
    """``secret`` when it is a str or bytes of 16 characters or more; TypeError/ValueError."""
    if not isinstance(secret, str | bytes):
        raise TypeError(f"{name} must be a str or bytes, got {type(secret).__name__}")
    if len(secret) < 16:
        raise ValueError(f"{name} must be at least 16 characters; use secrets.token_hex(32)")
    return secret


def check_secrets(owner: str, name: str, secrets: object) -> list[str | bytes]:
    """One secret or a non-empty sequence of them (the first signs, all verify), checked."""
    if isinstance(secrets, str | bytes):
        return [check_secret(f"{owner}: {name}", secrets)]
    if not isinstance(secrets, Iterable):
        raise TypeError(f"{owner}: {name} must be a str, bytes or a list of them")
    found = [check_secret(f"{owner}: {name} item", item) for item in secrets]
    if not found:
        raise ValueError(f"{owner}: {name} is an empty list: give at least one secret")
    return found


def check_name(owner: str, option: str, name: object) -> str:
    """``name`` when it is a cookie-name (an RFC 9110 token, RFC 6265 §4.1.1); ValueError."""
    if not isinstance(name, str) or not is_token(name):
        raise ValueError(f"{owner}: {option} must be a token (RFC 6265 §4.1.1), got {name!r}")
    return name


def check_max_age(owner: str, option: str, max_age: object) -> int:
    """Seconds (an int > 0, or a timedelta) as an int; ValueError otherwise."""
    if isinstance(max_age, timedelta):
        max_age = int(max_age.total_seconds())
    if type(max_age) is not int or max_age <= 0:
        raise ValueError(f"{owner}: {option} must be a positive number of seconds, got {max_age!r}")
    return max_age


def secret_keys(secrets: Iterable[str | bytes]) -> list[bytes]:
    """Newest-first ``secrets`` as itsdangerous wants them: oldest first, the signing key last."""
    return [k.encode() if isinstance(k, str) else k for k in reversed(list(secrets))]


def signer(keys: list[bytes], salt: str) -> TimestampSigner:
    """HMAC-SHA256 with a timestamp; signs with ``keys[-1]``, verifies with each."""
    return TimestampSigner(keys, salt=salt, digest_method=hashlib.sha256)


@dataclass(frozen=True, slots=True)
class CookieAttributes:
    """The attributes of one Set-Cookie (RFC 6265 §4.1.2); ``samesite`` None leaves it out."""

    path: str = "/"
    domain: str | None = None
    max_age: int = 0
    secure: bool = False
    httponly: bool = True
    samesite: str | None = "Lax"


def check_attributes(
    owner: str,
    *,
    path: object,
    domain: object,
    secure: object,
    httponly: object,
    samesite: object,
) -> str | None:
    """Check cookie attribute options (``secure`` None means by scheme); the SameSite value."""
    if secure is not None and not isinstance(secure, bool):
        raise TypeError(f"{owner}: secure must be True, False or None (by scheme), got {secure!r}")
    if not isinstance(httponly, bool):
        raise TypeError(f"{owner}: httponly must be True or False, got {httponly!r}")
    if not isinstance(path, str) or not path.startswith("/") or not _attr_text(path):
        raise ValueError(
            f"{owner}: path must start with '/' and hold no space, ';' or CTL: {path!r}"
        )
    if domain is not None and (not isinstance(domain, str) or not _attr_text(domain)):
        raise ValueError(f"{owner}: domain must be a host name like 'example.com', got {domain!r}")
    if samesite is None:
        return None
    if not isinstance(samesite, str) or samesite.lower() not in _SAMESITE:
        raise ValueError(
            f"{owner}: samesite must be 'Strict', 'Lax', 'None' or None, got {samesite!r}"
        )
    if samesite.lower() == "none" and secure is not True:
        # Browsers drop SameSite=None cookies that are not Secure (RFC 6265bis §4.1.2.7).
        raise ValueError(f"{owner}: samesite='None' needs secure=True")
    return _SAMESITE[samesite.lower()]


def cookie_values(environ: WSGIEnvironment, name: str, limit: int) -> list[str]:
    """The distinct non-empty values of cookie ``name`` in the request, in header order (most
    specific path first, RFC 6265 §5.4), at most ``limit``; junk around them is skipped."""
    header = environ.get("HTTP_COOKIE")
    if not header or not isinstance(header, str) or name not in header:
        return []
    try:  # WebOb skips junk and other apps' malformed cookies instead of failing
        pairs = list(parse_cookie(header))
    except (UnicodeError, ValueError):  # not latin-1: not a header PEP 3333 allows
        return []
    key = name.encode("ascii")
    values = dict.fromkeys(value for k, value in pairs if k == key and value)
    return [value.decode("latin-1") for value in islice(values, limit)]


def expires_date(max_age: int) -> str:
    """Expires for a cookie kept ``max_age`` seconds, as an IMF-fixdate (RFC 9110 §5.6.7)."""
    return formatdate(int(time.time()) + max_age, usegmt=True) if max_age > 0 else EPOCH


def set_cookie(name: str, value: str, attrs: CookieAttributes) -> str:
    """The Set-Cookie header value; Max-Age wins where known (RFC 6265 §5.3 step 3), Expires
    serves older clients."""
    return cookie_template(name, attrs) % (value, expires_date(attrs.max_age))


def cookie_template(name: str, attrs: CookieAttributes) -> str:
    """A %-template (value, expires) of the Set-Cookie value, serialised by WebOb's Morsel."""
    morsel = Morsel(name.encode("ascii"), _VALUE_MARK)
    morsel.path = attrs.path.encode("ascii")
    if attrs.domain is not None:
        morsel.domain = attrs.domain.encode("ascii")
    morsel.max_age = attrs.max_age
    # Given as bytes, WebOb keeps our date: its own comes from utcnow(), deprecated in 3.12.
    morsel.expires = _EXPIRES_MARK
    morsel.httponly = attrs.httponly
    morsel.secure = attrs.secure
    if attrs.samesite is not None:
        morsel.samesite = attrs.samesite
    text = str(morsel.serialize()).replace("%", "%%")
    return text.replace(_VALUE_MARK.decode(), "%s", 1).replace(_EXPIRES_MARK.decode(), "%s", 1)


def varies_by_cookie(headers: list[tuple[str, str]]) -> bool:
    """Whether ``headers`` already say the response varies by Cookie (or by everything)."""
    for name, value in headers:
        if name.lower() == "vary":
            tokens = {token.strip().lower() for token in value.split(",")}
            if "cookie" in tokens or "*" in tokens:
                return True
    return False
