"""MD5-crypt, the hash of Apache's ``htpasswd -m`` (``$apr1$``) and of glibc's crypt() ``$1$``.
Private to :mod:`wsgikit.middleware.basic_auth`; the stdlib's ``crypt`` is gone in 3.13.

Poul-Henning Kamp's algorithm (FreeBSD's md5crypt.c, Apache's apr_md5.c): 1000 rounds of MD5
over the password and an 8-character salt, written in crypt's base-64 alphabet::

    md5_crypt(b"secret", b"r31.....", "$apr1$")  ->  "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/"
"""

from __future__ import annotations

import hashlib

_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# The digest bytes are written in this order, three at a time, then the last one alone.
_GROUPS = ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5))


def _to64(value: int, count: int) -> str:
    out = []
    for _ in range(count):
        out.append(_ITOA64[value & 0x3F])
        value >>= 6
    return "".join(out)


def md5_crypt(password: bytes, salt: bytes, magic: str = "$apr1$") -> str:
    """The ``magic + salt + "$" + hash`` string for ``password``; ``salt`` is cut to 8 bytes."""
    salt = salt[:8]
    magic_bytes = magic.encode("ascii")
    alternate = hashlib.md5(password + salt + password).digest()
    ctx = password + magic_bytes + salt
    for left in range(len(password), 0, -16):
        ctx += alternate[: min(16, left)]
    bits = len(password)
    while bits:
        ctx += b"\0" if bits & 1 else password[:1]
        bits >>= 1
    final = hashlib.md5(ctx).digest()
    for round_ in range(1000):  # the rounds exist to slow guessing down, as in the original
        data = password if round_ & 1 else final
        if round_ % 3:
            data += salt
        if round_ % 7:
            data += password
        data += final if round_ & 1 else password
        final = hashlib.md5(data).digest()
    text = "".join(_to64((final[a] << 16) | (final[b] << 8) | final[c], 4) for a, b, c in _GROUPS)
    return f"{magic}{salt.decode('latin-1')}${text}{_to64(final[11], 2)}"
