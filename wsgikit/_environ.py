"""The request half of the PEP 3333 server side: environ building and ``wsgi.input``.

Used through :mod:`wsgikit.gateway`, which re-exports everything here::

    environ = build_environ(head, conn.for_peer(peer), InputStream(reader, head.content_length))
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, Protocol, TypeAlias
from urllib.parse import unquote_to_bytes

from wsgikit.types import WSGIEnvironment

__all__ = [
    "BodyReader",
    "ClientError",
    "ConnectionInfo",
    "FileWrapper",
    "HTTPRequest",
    "InputStream",
    "build_environ",
    "environ_from_cgi",
]


class ClientError(Exception):
    """The request failed by the client's fault: a bad or short body, too slow, too big, gone.

    Raised by ``wsgi.input`` (the servers' body readers). ``status`` is the HTTP status that
    says so (400, 408, 413). Not an app error: when the app lets it through and nothing was sent
    yet, the engine answers ``status`` rather than 500 and logs one INFO line without a
    traceback; :class:`wsgikit.middleware.ErrorMiddleware` passes it through the same way.
    """

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class BodyReader(Protocol):
    """The server's side of a request body: ``read(n)`` gives 1..n bytes, or b"" at the end."""

    def read(self, size: int, /) -> bytes: ...


class HTTPRequest(Protocol):
    """What :func:`build_environ` needs of a parsed request (``wsgikit._http11.RequestHead``)."""

    method: str
    target: bytes
    path: bytes
    query: bytes
    authority: bytes | None
    version: tuple[int, int]
    headers: list[tuple[bytes, bytes]]


# accept()'s peer address: (host, port), or (host, port, flowinfo, scope_id) for IPv6; a str for
# a unix socket. Exact, because compiled with mypyc the annotation is checked when called.
Peer: TypeAlias = tuple[str, int] | tuple[str, int, int, int] | str | None


class ConnectionInfo:
    """Facts about the connection and server that go into every environ of a connection."""

    __slots__ = ("base",)

    def __init__(
        self,
        *,
        server_name: str,
        server_port: int | str,
        peer: Peer = None,
        scheme: str = "http",
        script_name: str = "",
        multithread: bool = True,
        multiprocess: bool = False,
        errors: IO[str] | None = None,
    ) -> None:
        base: dict[str, Any] = {
            "SERVER_NAME": server_name,
            "SERVER_PORT": str(server_port),
            "SCRIPT_NAME": script_name.rstrip("/"),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scheme,
            "wsgi.errors": errors if errors is not None else sys.stderr,
            "wsgi.multithread": multithread,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
        }
        if scheme == "https":
            base["HTTPS"] = "on"
        if isinstance(peer, tuple):
            base["REMOTE_ADDR"] = peer[0]
            base["REMOTE_PORT"] = str(peer[1])
        elif peer is not None:  # a unix socket peer has no address; CGI wants something there
            base["REMOTE_ADDR"] = peer or "127.0.0.1"
        self.base = base

    def for_peer(self, peer: Peer) -> ConnectionInfo:
        """A copy with the client's address: one per listener, this per accepted client."""
        # Not ConnectionInfo.__new__: compiled (mypyc), __new__ runs __init__; once a connection.
        info = ConnectionInfo(server_name="", server_port="")
        base = self.base.copy()
        if isinstance(peer, tuple):
            base["REMOTE_ADDR"] = peer[0]
            base["REMOTE_PORT"] = str(peer[1])
        else:
            base["REMOTE_ADDR"] = peer or "127.0.0.1"
            base.pop("REMOTE_PORT", None)
        info.base = base
        return info


class InputStream:
    """``wsgi.input``: reads never go past the body (PEP 3333: an app must not read more).

    ``length`` is the Content-Length, or None for a body that ends itself (chunked), where the
    reader returns b"" at the end and ``wsgi.input_terminated`` is set.
    """

    __slots__ = ("_buf", "_reader", "_remaining")

    def __init__(self, reader: BodyReader, length: int | None) -> None:
        self._reader = reader
        self._remaining = length  # None: unknown, the reader says when it ends
        self._buf = b""

    def _fill(self, size: int) -> bytes:
        """At most ``size`` new bytes from the reader (b"" at the end of the body).

        A reader that ends before Content-Length is a body cut short: :class:`ClientError`.
        """
        remaining = self._remaining
        if remaining is not None:
            if remaining <= 0:
                return b""
            size = min(size, remaining)
        data = self._reader.read(size)
        if remaining is not None:
            if not data:
                self._remaining = 0
                raise ClientError(400, f"request body ended {remaining} bytes before its length")
            self._remaining = remaining - len(data)
        return data

    def read(self, size: int | None = -1, /) -> bytes:
        """``size`` bytes, fewer only at the end of the body; all of the rest without a size.

        Like a file's ``read`` (PEP 3333 "Input and Error Streams"): apps read a body with one
        ``read(int(CONTENT_LENGTH))`` and must get all of it, however it arrived.
        """
        buf = self._buf
        if size is None or size < 0:
            parts = [buf]
            self._buf = b""
            while chunk := self._fill(65536):
                parts.append(chunk)
            return b"".join(parts)
        if len(buf) >= size:
            data, self._buf = buf[:size], buf[size:]
            return data
        if not buf:
            data = self._fill(size)
            if len(data) == size or not data:
                return data
            parts = [data]
            have = len(data)
        else:
            self._buf = b""
            parts = [buf]
            have = len(buf)
        while have < size and (chunk := self._fill(size - have)):
            parts.append(chunk)
            have += len(chunk)
        return b"".join(parts)

    def readline(self, size: int | None = -1, /) -> bytes:
        limit = -1 if size is None else size
        while True:
            end = self._buf.find(b"\n") + 1
            if end or (0 <= limit <= len(self._buf)):
                cut = end if end and (limit < 0 or end <= limit) else limit
                if cut <= 0:
                    cut = end
                line, self._buf = self._buf[:cut], self._buf[cut:]
                return line
            chunk = self._fill(8192)
            if not chunk:
                line, self._buf = self._buf, b""
                return line
            self._buf += chunk

    def readlines(self, hint: int = -1, /) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class FileWrapper:
    """``wsgi.file_wrapper`` (PEP 3333 "Optional Platform-Specific File Handling").

    Iterating gives ``blksize`` chunks; servers that can send the file with ``os.sendfile``.
    """

    __slots__ = ("blksize", "close", "filelike")

    def __init__(self, filelike: IO[bytes], blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize
        close = getattr(filelike, "close", None)
        if close is not None:
            self.close = close

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while data := read(self.blksize):
            yield data


# -- environ -------------------------------------------------------------------------------------

_header_keys: dict[bytes, str | None] = {}


def _environ_key(name: bytes) -> str | None:
    """HTTP_* key of a header name; None for names with "_" (a "-"/"_" spoofing vector) — cached."""
    key = _header_keys.get(name)
    if key is None and name not in _header_keys:
        text = name.decode("latin-1")
        if "_" not in text:
            upper = text.upper().replace("-", "_")
            key = upper if upper in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + upper
        if len(_header_keys) < 2048:  # bounded: header names are client-chosen
            _header_keys[name] = key
    return key


_PROTOCOLS = {(1, 1): "HTTP/1.1", (1, 0): "HTTP/1.0"}


def build_environ(head: HTTPRequest, conn: ConnectionInfo, body: InputStream) -> WSGIEnvironment:
    """The PEP 3333 environ of an HTTP request: latin-1 "bytes-as-str" values, HTTP_* headers."""
    environ = conn.base.copy()
    # OPTIONS * (RFC 9112 §3.2.4) keeps its "*" in PATH_INFO, as gunicorn, waitress, werkzeug and
    # wsgiref.simple_server pass it: the app can tell it from a request for the root ("" or "/").
    # wsgiref.validate refuses it (RFC 3875 §4.1.5 wants "" or "/..."); PEP 3333 does not.
    path = head.path
    path_info = (unquote_to_bytes(path) if b"%" in path else path).decode("latin-1")
    script_name: str = environ["SCRIPT_NAME"]
    if script_name and (path_info == script_name or path_info.startswith(script_name + "/")):
        path_info = path_info[len(script_name) :]
    environ["REQUEST_METHOD"] = head.method
    environ["PATH_INFO"] = path_info
    environ["QUERY_STRING"] = head.query.decode("latin-1")
    environ["REQUEST_URI"] = head.target.decode("latin-1")
    environ["SERVER_PROTOCOL"] = _PROTOCOLS.get(head.version) or "HTTP/%d.%d" % head.version
    environ["wsgi.input"] = body
    environ["wsgi.input_terminated"] = True
    keys = _header_keys
    for name, value in head.headers:
        key = keys.get(name) or _environ_key(name)  # the lookup inline: a call a header costs
        if key is None:
            continue
        text = value.decode("latin-1")
        if key in environ and key.startswith("HTTP_"):
            # RFC 9110 §5.3: repeated fields combine with ", "; cookies with "; " (RFC 6265 §5.4).
            sep = "; " if key == "HTTP_COOKIE" else ", "
            environ[key] = environ[key] + sep + text
        else:
            environ[key] = text
    if head.authority is not None:  # RFC 9112 §3.2.2: the absolute-form's authority replaces Host
        environ["HTTP_HOST"] = head.authority.decode("latin-1")
    return environ


# HTTP_PROXY: httpoxy. The rest are framing the web server already removed or turned into
# CONTENT_LENGTH/CONTENT_TYPE (RFC 9112 §6.1 hop-by-hop; RFC 3875 §4.1.18 leaves such headers
# out; PEP 3333 and wsgiref.validate forbid HTTP_CONTENT_*), though nginx passes them on.
_NOT_FROM_CGI = ("HTTP_PROXY", "HTTP_TRANSFER_ENCODING", "HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE")


def environ_from_cgi(
    params: Iterable[tuple[bytes, bytes]], conn: ConnectionInfo, body: InputStream
) -> WSGIEnvironment:
    """The environ of a request that arrived as CGI meta-variables (FastCGI, SCGI, CGI).

    Values are decoded as latin-1 (PEP 3333). The web server's variables never replace the
    server's own ``wsgi.*`` keys. ``HTTP_PROXY`` is dropped: it is the client's ``Proxy:`` header,
    never configuration (httpoxy, CVE-2016-5385). ``HTTPS=on`` sets the scheme.
    """
    environ = conn.base.copy()
    for name, value in params:
        key = name.decode("latin-1")
        if not key.startswith("wsgi."):
            environ[key] = value.decode("latin-1")
    for key in _NOT_FROM_CGI:
        environ.pop(key, None)
    if environ.get("HTTPS", "").lower() in ("on", "1", "yes"):
        environ["wsgi.url_scheme"] = "https"
    environ.setdefault("SCRIPT_NAME", "")
    environ.setdefault("PATH_INFO", "")
    environ.setdefault("QUERY_STRING", "")
    environ.setdefault("SERVER_PROTOCOL", "HTTP/1.0")
    environ["wsgi.input"] = body
    environ["wsgi.input_terminated"] = True
    return environ
