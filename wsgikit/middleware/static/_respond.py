"""StaticFiles' answer step: one GET or HEAD of a found file, from preconditions to the body.

Private to :mod:`wsgikit.middleware.static`. ``respond`` picks the representation, evaluates the
preconditions (304/412), then Range (206/416), and sends the body: from memory for a small file
already read, else the open file through ``wsgi.file_wrapper`` (sendfile on our server) or a
reader of 64 KiB blocks. The file is opened only for a body, checked with ``fstat`` against what
the headers say (a file replaced meanwhile answers None: the caller looks it up again), and
closed on every path: by the server's ``close()`` once sent, here when anything fails first::

    result = Reply(environ, start_response, files, cache_control).respond(entry, variant)
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from typing import BinaryIO

from wsgikit.middleware.static._conditional import if_range, precondition
from wsgikit.middleware.static._entry import Entry, Variant, signature
from wsgikit.middleware.static._files import SMALL_FILE, Files
from wsgikit.middleware.static._ranges import BLOCK, FileBody, MultipartBody, Slice, parse_ranges
from wsgikit.types import StartResponse, WSGIEnvironment

__all__ = ["Reply"]

Headers = list[tuple[str, str]]
_TEXT = ("Content-Type", "text/plain; charset=utf-8")
_KEEP_IN_304 = frozenset({"etag", "cache-control", "vary"})  # RFC 9110 §15.4.5


class Reply:
    """One request's answer (DESIGN.md "The Exchange idiom"): nothing is kept on the middleware."""

    __slots__ = ("cache_control", "environ", "files", "start_response")

    def __init__(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        files: Files,
        cache_control: str,
    ) -> None:
        self.environ, self.start_response = environ, start_response
        self.files, self.cache_control = files, cache_control

    def respond(self, entry: Entry, variant: Variant) -> Iterable[bytes] | None:
        """The response for a GET or HEAD of ``variant``; None when the file changed under us."""
        environ, start_response = self.environ, self.start_response
        status = precondition(environ, variant.etag, variant.mtime)
        if status == 304:
            kept = [h for h in variant.headers(self.cache_control) if h[0].lower() in _KEEP_IN_304]
            start_response("304 Not Modified", kept)
            return []
        if status == 412:
            return _short(start_response, "412 Precondition Failed", [])
        head = environ["REQUEST_METHOD"] == "HEAD"
        wanted = environ.get("HTTP_RANGE")
        if wanted is not None and not head:  # RFC 9110 §14.2: Range applies to GET only
            condition = environ.get("HTTP_IF_RANGE")
            if condition is None or if_range(condition, variant.etag, variant.mtime):
                ranges = parse_ranges(wanted, variant.size)
                if ranges == []:
                    unsatisfied = [("Content-Range", f"bytes */{variant.size}")]
                    return _short(start_response, "416 Range Not Satisfiable", unsatisfied)
                if ranges:
                    return self._partial(entry, variant, ranges)
        body = variant.body
        if head or body is not None:
            start_response("200 OK", variant.headers(self.cache_control))
            return [] if body is None or head else [body]
        return self._whole(entry, variant)

    def _whole(self, entry: Entry, variant: Variant) -> Iterable[bytes] | None:
        file = _open(variant)
        if file is None:
            return None
        try:
            if variant.size <= SMALL_FILE:
                body = _read_small(file, variant)
                if body is None:
                    return None
                self.files.keep_body(entry, variant.coding, body)
                self.start_response("200 OK", variant.headers(self.cache_control))
                return [body]
            self.start_response("200 OK", variant.headers(self.cache_control))
            return _send(self.environ, file, 0, variant.size, whole=True)
        except BaseException:
            file.close()
            raise

    def _partial(
        self, entry: Entry, variant: Variant, ranges: list[tuple[int, int]]
    ) -> Iterable[bytes] | None:
        """206 with one range (Content-Range) or several (multipart/byteranges), RFC 9110 §14.3."""
        size = variant.size
        kept = [h for h in variant.headers(self.cache_control) if h[0] != "Content-Length"]
        file = io.BytesIO(variant.body) if variant.body is not None else _open(variant)
        if file is None:
            return None
        try:
            if len(ranges) == 1:
                first, last = ranges[0]
                kept += [
                    ("Content-Length", str(last - first + 1)),
                    ("Content-Range", f"bytes {first}-{last}/{size}"),
                ]
                self.start_response("206 Partial Content", kept)
                return _send(self.environ, file, first, last - first + 1)
            body = MultipartBody(file, ranges, size, entry.media)
            kept = [h for h in kept if h[0] != "Content-Type"]
            kept += [
                ("Content-Type", f"multipart/byteranges; boundary={body.boundary}"),
                ("Content-Length", str(body.length)),
            ]
            self.start_response("206 Partial Content", kept)
            return body
        except BaseException:
            file.close()
            raise


def _send(
    environ: WSGIEnvironment, file: BinaryIO, start: int, length: int, *, whole: bool = False
) -> Iterable[bytes]:
    """The body: the file (or a slice) through wsgi.file_wrapper when the server has one."""
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is None or isinstance(file, io.BytesIO):
        return FileBody(file, start, length)
    result: Iterable[bytes] = wrapper(file if whole else Slice(file, start, length), BLOCK)
    return result


def _open(variant: Variant) -> BinaryIO | None:
    """The file, when it is still the one the variant describes; else None."""
    try:
        file = open(variant.path, "rb")  # noqa: SIM115 (closed by the response's close())
    except OSError:
        return None
    try:
        same = signature(os.fstat(file.fileno())) == variant.signature
    except OSError:
        same = False
    if not same:
        file.close()
        return None
    return file


def _read_small(file: BinaryIO, variant: Variant) -> bytes | None:
    with file:
        body = file.read(variant.size + 1)
    return body if len(body) == variant.size else None


def _short(start_response: StartResponse, status: str, extra: Headers) -> list[bytes]:
    body = f"{status[4:]}\n".encode()
    start_response(status, [_TEXT, ("Content-Length", str(len(body))), *extra])
    return [body]
