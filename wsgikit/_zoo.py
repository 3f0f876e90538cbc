"""The conformance zoo behind :func:`wsgikit.testing.check_middleware`: small inner apps, one
per shape a middleware must handle (list, generator, lazy start_response, write(), HEAD, 204/304,
file_wrapper, failures before, during and after the body), each recording whether close()
reached its iterable, and POSTs of bodies over 64 KiB, with and without Content-Length, read
the way frameworks read them. Private: use ``check_middleware``.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from wsgikit.types import StartResponse, WSGIEnvironment

_TEXT = ("Content-Type", "text/plain; charset=utf-8")


class ZooError(Exception):
    """What the zoo's failing apps raise; a middleware may let it through."""


class Probe:
    """What happened to one zoo app's iterable, and the request body it read (if it read one)."""

    returned = closed = False
    read: str = ""  # how the app read the body: "read(102404)", "read()"
    got: bytes | None = None


class _Recorded:
    """A zoo app's iterable that records close()."""

    def __init__(self, probe: Probe, items: Iterable[bytes], also: Any = None) -> None:
        probe.returned = True
        self._probe, self._items, self._also = probe, items, also

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._items)

    def close(self) -> None:
        self._probe.closed = True
        for thing in (self._items, self._also):
            getattr(thing, "close", lambda: None)()


class _RecordedFile:
    """A real temporary file for wsgi.file_wrapper that records close()."""

    def __init__(self, probe: Probe, data: bytes) -> None:
        probe.returned = True
        # Owned by this object until close(): that is what the zoo checks.
        self._probe, self._file = probe, tempfile.TemporaryFile()  # noqa: SIM115
        self._file.write(data)
        self._file.seek(0)

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._probe.closed = True
        self._file.close()


_App = Callable[[Probe, WSGIEnvironment, StartResponse], Iterable[bytes]]


def _list(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    sr("200 OK", [_TEXT, ("Content-Length", "12")])
    return _Recorded(p, [b"hello, ", b"world"])


def _whole(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    sr("200 OK", [_TEXT, ("Content-Length", "12")])  # also on HEAD: the GET headers and body
    return _Recorded(p, [b"hello, world"])


def _head(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    sr("200 OK", [_TEXT, ("Content-Length", "12")])  # RFC 9110 §9.3.2: GET's headers, no body
    return _Recorded(p, [])


def _generator(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    sr("200 OK", [_TEXT])
    return _Recorded(p, (chunk for chunk in (b"hello, ", b"", b"world")))


def _lazy(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    def body() -> Iterator[bytes]:
        sr("200 OK", [_TEXT, ("Content-Length", "12")])  # PEP 3333: before the first chunk
        yield b"hello, world"

    return _Recorded(p, body())


def _write(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    sr("200 OK", [_TEXT, ("Content-Length", "12")])(b"hello, ")
    return _Recorded(p, [b"world"])


def _empty(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    sr("200 OK", [_TEXT, ("Content-Length", "0")])
    return _Recorded(p, [])


def _echo(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    data = env["wsgi.input"].read(int(env.get("CONTENT_LENGTH") or 0))
    sr("200 OK", [_TEXT, ("Content-Length", str(len(data)))])
    return _Recorded(p, [data])


def _read_body(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    """Read the body as Django's request.body, WebOb and Falcon do: with exactly one read."""
    length = env.get("CONTENT_LENGTH")
    if length:
        p.read, p.got = f"read({length})", env["wsgi.input"].read(int(length))
    else:  # no length: a chunked body, whose stream ends itself (wsgi.input_terminated)
        p.read, p.got = "read()", env["wsgi.input"].read()
    digest = hashlib.sha256(p.got).hexdigest().encode()
    sr("200 OK", [_TEXT, ("Content-Length", str(len(digest)))])
    return _Recorded(p, [digest])


def _no_content(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    sr("204 No Content", [])
    return _Recorded(p, [])


def _not_modified(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    sr("304 Not Modified", [("ETag", '"zoo"')])
    return _Recorded(p, [])


def _file(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    sr("200 OK", [_TEXT, ("Content-Length", "12")])
    file = _RecordedFile(p, b"hello, world")
    wrapper = env.get("wsgi.file_wrapper")
    if wrapper is None:  # PEP 3333: the server may not offer one
        return _Recorded(p, iter(lambda: file.read(5), b""), also=file)
    result: Iterable[bytes] = wrapper(file, 5)
    return result


def _raise_first(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    raise ZooError("the app failed before start_response")


def _raise_after_start(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    sr("200 OK", [_TEXT])
    raise ZooError("the app failed after start_response")


def _error_page(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    sr("200 OK", [_TEXT, ("Content-Length", "12")])
    try:
        raise ZooError("the app failed before its body")
    except ZooError:
        sr("500 Internal Server Error", [_TEXT], sys.exc_info())
    return _Recorded(p, [b"error page"])


def _raise_midway(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    def body() -> Iterator[bytes]:
        sr("200 OK", [_TEXT])
        yield b"hello, "
        raise ZooError("the app failed during its body")

    return _Recorded(p, body())


def _late_exc_info(p: Probe, env: WSGIEnvironment, sr: StartResponse) -> Iterable[bytes]:
    def body() -> Iterator[bytes]:
        sr("200 OK", [_TEXT])
        yield b"hello, "
        try:
            raise ZooError("the app failed after its first chunk")
        except ZooError:
            sr("500 Internal Server Error", [_TEXT], sys.exc_info())  # PEP 3333: must raise
        yield b"error page"

    return _Recorded(p, body())


@dataclass(frozen=True)
class Case:
    name: str
    app: _App
    method: str = "GET"
    body: bytes = b""
    raises: bool = False  # the zoo app fails: its ZooError may propagate
    head_body_ok: bool = False  # the app itself sent a body on HEAD: passing it on is no fault
    chunked: bool = False  # the body comes without CONTENT_LENGTH, wsgi.input_terminated
    # wsgiref.validate predates wsgi.input_terminated and refuses read() without a size, which a
    # terminated stream allows: such cases run under LintMiddleware alone, on both sides.
    validate: bool = True


# Over 64 KiB (a common buffer size that truncating code stops at), not a round number, and not
# periodic, so that a dropped or repeated piece changes the sha256.
_BIG = hashlib.shake_128(b"wsgikit zoo").digest(100_000 + 2404)


ZOO = (
    Case("list", _list),
    Case("generator", _generator),
    Case("lazy-start-response", _lazy),
    Case("write", _write),
    Case("empty", _empty),
    Case("post", _echo, method="POST", body=b"name=wsgikit"),
    Case("post-100k", _read_body, method="POST", body=_BIG),
    Case("post-chunked", _read_body, method="POST", body=_BIG, chunked=True, validate=False),
    Case("head", _head, method="HEAD"),
    Case("head-with-body", _whole, method="HEAD", head_body_ok=True),
    Case("204", _no_content),
    Case("304", _not_modified),
    Case("file-wrapper", _file),
    Case("raise-before-start-response", _raise_first, raises=True),
    Case("raise-after-start-response", _raise_after_start, raises=True),
    Case("exc-info", _error_page, raises=True),
    Case("raise-mid-iteration", _raise_midway, raises=True),
    Case("exc-info-after-body", _late_exc_info, raises=True),
)
