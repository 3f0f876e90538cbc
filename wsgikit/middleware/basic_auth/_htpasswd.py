"""The htpasswd file of BasicAuth: parsing it, checking a password against a line, and reading
the file again when it changes. Private to :mod:`wsgikit.middleware.basic_auth`.

Supported hashes (what Apache's ``htpasswd`` writes): bcrypt ``$2y$``/``$2b$``/``$2a$`` (-B,
needs the ``bcrypt`` package: ``pip install wsgikit[auth]``), ``{SHA}`` base64 SHA-1 (-s), and
MD5-crypt ``$apr1$`` (-m, Apache's default) and ``$1$``. Not supported: DES crypt() (-d; the
stdlib ``crypt`` module is gone in Python 3.13), SHA-256/512 crypt (-2, -5) and plain text::

    users = HtpasswdFile("/etc/app/htpasswd")
    users.check("alice", "secret")   # -> True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import threading
from typing import Any

from wsgikit.middleware.basic_auth._apr1 import md5_crypt

log = logging.getLogger("wsgikit.basic_auth")

_BCRYPT = ("$2y$", "$2b$", "$2a$")
_MD5 = ("$apr1$", "$1$")
# Checked for an unknown user when the file has no line to check instead.
_DUMMY = "$apr1$dummysal$0000000000000000000000"


def _bcrypt() -> Any:
    try:
        import bcrypt  # noqa: PLC0415 (optional: only files with bcrypt lines need it)
    except ImportError:
        return None
    return bcrypt


def parse(text: str, where: str) -> tuple[dict[str, str], list[str]]:
    """(user -> hash, problems) of an htpasswd file's text; a problem names its line."""
    users: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, colon, hashed = line.partition(":")
        problem = None
        if not colon or not user:
            problem = "not user:hash"
        elif hashed.startswith(_BCRYPT):
            if _bcrypt() is None:
                problem = (
                    "a bcrypt hash, and the bcrypt package is missing: pip install wsgikit[auth]"
                )
        elif not hashed.startswith(("{SHA}", *_MD5)):
            problem = (
                "an unsupported hash (supported: bcrypt $2y$, {SHA}, $apr1$ and $1$; "
                "crypt() and plain text are not: use htpasswd -B)"
            )
        if problem is None:
            users[user] = hashed
        else:
            problems.append(f"{where} line {number} ({user or '?'}): {problem}")
    return users, problems


def verify(password: str, hashed: str) -> bool:
    """Whether ``password`` matches ``hashed``, compared in constant time."""
    secret = password.encode("utf-8")
    if hashed.startswith(_BCRYPT):
        bcrypt = _bcrypt()
        try:
            return bool(bcrypt.checkpw(secret, hashed.encode("ascii")))
        except (ValueError, UnicodeError):  # a malformed hash in the file
            return False
    if hashed.startswith("{SHA}"):
        digest = base64.b64encode(hashlib.sha1(secret).digest()).decode("ascii")
        return hmac.compare_digest(digest, hashed[5:])
    magic = "$apr1$" if hashed.startswith("$apr1$") else "$1$"
    salt = hashed[len(magic) :].partition("$")[0]
    return hmac.compare_digest(md5_crypt(secret, salt.encode("latin-1"), magic), hashed)


class HtpasswdFile:
    """The users of an htpasswd file, read again whenever its mtime, size or inode changes.

    Raises ValueError at construction for a missing file or a line it cannot check; later, a
    broken line is logged (ERROR, ``wsgikit.basic_auth``) and skipped, and a vanished file
    leaves no user.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, str] = {}
        try:
            stamp = self._stat()
        except OSError as exc:
            raise ValueError(f"BasicAuth: htpasswd file {self.path!r}: {exc.strerror}") from None
        problems = self._load(stamp)
        if problems:
            raise ValueError("BasicAuth: " + "; ".join(problems))

    def check(self, user: str, password: str) -> bool:
        self._refresh()
        users = self._users
        hashed = users.get(user)
        if hashed is None:
            # Checked against a real line all the same, so that an unknown user costs what a
            # wrong password does (bcrypt is slow on purpose): no user names found by timing.
            verify(password, next(iter(users.values()), _DUMMY))
            return False
        return verify(password, hashed)

    def _stat(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _refresh(self) -> None:
        try:
            stamp: tuple[int, int, int] | None = self._stat()
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:  # another thread read it meanwhile
                return
            if stamp is None:
                log.error("htpasswd file %r is gone: no user can log in", self.path)
                self._users, self._stamp = {}, None
                return
            for problem in self._load(stamp):
                log.error("%s: skipped", problem)

    def _load(self, stamp: tuple[int, int, int]) -> list[str]:
        try:
            with open(self.path, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeError) as exc:
            self._users, self._stamp = {}, stamp
            return [f"{self.path}: cannot read: {exc}"]
        self._users, problems = parse(text, self.path)
        self._stamp = stamp
        return problems

    def __repr__(self) -> str:
        return f"HtpasswdFile({self.path!r})"
