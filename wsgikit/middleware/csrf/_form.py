"""The CSRF token in a form body, and the body put back for the app. Private to
:mod:`wsgikit.middleware.csrf`.

Only ``application/x-www-form-urlencoded`` and ``multipart/form-data`` bodies are read. The body
is copied into a spooled temporary file (memory up to 1 MiB, then disk) that replaces
``wsgi.input``, with CONTENT_LENGTH set to its size (PEP 3333: the app reads CONTENT_LENGTH
bytes; a chunked body gets one too), so the app reads the very bytes sent::

    token = form_token(environ, "csrf_token", max_form_size=2_621_440)
"""

from __future__ import annotations

import re
import tempfile
from typing import IO
from urllib.parse import parse_qsl

from wsgikit.types import WSGIEnvironment

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
_CHUNK = 64 << 10
_SPOOL = 1 << 20
_LINE = 8 << 10  # a multipart line is read in pieces of at most this much
# RFC 7578 §4.2: Content-Disposition: form-data; name="field"; filename="..." (not filename=)
_field_name = re.compile(rb'(?:^|;)\s*name\s*=\s*(?:"([^"]*)"|([^\s;]+))', re.IGNORECASE)
_boundary = re.compile(r'(?:^|;)\s*boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))', re.IGNORECASE)


class FormTooLarge(Exception):
    """A urlencoded body over ``max_form_size``: parsed in memory, so bounded (a 413)."""


def media_type(environ: WSGIEnvironment) -> str:
    return str(environ.get("CONTENT_TYPE", "")).partition(";")[0].strip().lower()


def form_token(
    environ: WSGIEnvironment, field: str, *, max_form_size: int
) -> tuple[str | None, IO[bytes] | None]:
    """(the value of form field ``field`` or None, the file now ``wsgi.input`` or None): the
    body is put back for the app; the caller closes that file when the response is over."""
    media = media_type(environ)
    if media == URLENCODED:
        body = _spool_body(environ, max_form_size)
        data = body.read()
        body.seek(0)
        # latin-1 both ways: any bytes and %-escapes decode, and UTF-8 text is not our business
        text = data.decode("latin-1")
        for key, value in parse_qsl(text, keep_blank_values=True, encoding="latin-1"):
            if key == field:
                return value, body
        return None, body
    if media == MULTIPART:
        found = _boundary.search(str(environ.get("CONTENT_TYPE", "")))
        body = _spool_body(environ, None)
        if found is None:
            return None, body  # no boundary: no fields to find; the app gets the body as sent
        boundary = (found.group(1) or found.group(2)).encode("latin-1", "replace")
        try:
            return _multipart_field(body, boundary, field.encode("ascii")), body
        finally:
            body.seek(0)
    return None, None


def _content_length(environ: WSGIEnvironment) -> int | None:
    """The body's length; None when it ends itself (chunked, ``wsgi.input_terminated``)."""
    text = str(environ.get("CONTENT_LENGTH") or "").strip()
    if text.isdigit():
        return int(text)
    return None if environ.get("wsgi.input_terminated") and not text else 0


def _spool_body(environ: WSGIEnvironment, limit: int | None) -> IO[bytes]:
    """Read the whole body into a spooled file that becomes ``wsgi.input``."""
    remaining = _content_length(environ)
    if limit is not None and remaining is not None and remaining > limit:
        raise FormTooLarge
    stream = environ["wsgi.input"]
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 (it is wsgi.input now)
    try:
        size = _copy(stream, spool, remaining, limit)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    environ["wsgi.input"] = spool
    environ["CONTENT_LENGTH"] = str(size)
    return spool


def _copy(stream: IO[bytes], spool: IO[bytes], remaining: int | None, limit: int | None) -> int:
    size = 0
    while remaining is None or remaining > 0:
        chunk = stream.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
        if not chunk:
            break  # short: the server's stream raises its own error if the client cut it
        spool.write(chunk)
        size += len(chunk)
        if remaining is not None:
            remaining -= len(chunk)
        if limit is not None and size > limit:
            raise FormTooLarge
    return size


def _multipart_field(body: IO[bytes], boundary: bytes, field: bytes) -> str | None:
    """The first line of the part named ``field`` (a token is one line), or None."""
    delimiter = b"--" + boundary
    state = "preamble"  # then "headers", "skip" (a part not ours) or "value"
    name: bytes | None = None
    while line := body.readline(_LINE):
        bare = line.rstrip(b"\r\n")
        if state == "value":
            return bare.decode("latin-1")
        if bare in (delimiter, delimiter + b"--"):
            if bare != delimiter:
                return None  # the close delimiter: no more parts
            state, name = "headers", None
        elif state == "headers":
            if not bare:
                state = "value" if name == field else "skip"
            elif bare[:20].lower() == b"content-disposition:":
                found = _field_name.search(bare[20:])
                name = (found.group(1) or found.group(2)) if found else None
    return None
