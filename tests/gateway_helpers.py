"""A parsed request, sinks and apps shared by the gateway and environ tests."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from wsgikit.gateway import (
    ConnectionInfo,
    InputStream,
    Outcome,
    build_environ,
    run_app,
)


class Head:
    """A parsed request as wsgikit._http11 produces it."""

    def __init__(
        self,
        target: bytes = b"/",
        *,
        method: str = "GET",
        version: tuple[int, int] = (1, 1),
        headers: list[tuple[bytes, bytes]] | None = None,
        authority: bytes | None = None,
    ) -> None:
        self.method = method
        self.target = target
        path, _, self.query = target.partition(b"?")
        self.path = path
        self.authority = authority
        self.version = version
        self.headers = headers if headers is not None else [(b"Host", b"example.com")]


class Sink:
    def __init__(self, fail_after: int | None = None) -> None:
        self.sends: list[bytes] = []
        self.fail_after = fail_after

    def send(self, *parts: bytes) -> None:
        if self.fail_after is not None and len(self.sends) >= self.fail_after:
            raise BrokenPipeError("client gone")
        self.sends.append(b"".join(parts))

    @property
    def data(self) -> bytes:
        return b"".join(self.sends)


class FileSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[tuple[int, int]] = []

    def sendfile(self, file: Any, offset: int, count: int) -> int:
        self.files.append((offset, count))
        file.seek(offset)
        self.sends.append(file.read(count))
        return count


CONN = ConnectionInfo(server_name="example.com", server_port=8080, peer=("10.0.0.1", 5555))


def environ_for(head: Head | None = None, body: bytes = b"", conn: ConnectionInfo = CONN) -> Any:
    head = head or Head()
    return build_environ(head, conn, InputStream(io.BytesIO(body), len(body)))


def serve(
    app: Any,
    head: Head | None = None,
    sink: Sink | None = None,
    keep_alive: bool = True,
    cgi: bool = False,
) -> tuple[bytes, Outcome]:
    head = head or Head()
    sink = sink if sink is not None else Sink()
    outcome = run_app(
        app,
        environ_for(head),
        sink,
        method=head.method,
        version=None if cgi else head.version,
        keep_alive=keep_alive,
    )
    return sink.data, outcome


def split(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        headers[name.lower()] = value
    return lines[0], headers, body


class Tracked:
    """An app whose iterable records close()."""

    def __init__(self, body: list[bytes], status: str = "200 OK", headers: Any = None) -> None:
        self.body = body
        self.status = status
        self.headers = headers if headers is not None else [("Content-Type", "text/plain")]
        self.closed = False

    def __call__(self, environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response(self.status, list(self.headers))
        return self._iter()

    def _iter(self) -> Iterator[bytes]:
        try:
            yield from self.body
        finally:
            self.closed = True
