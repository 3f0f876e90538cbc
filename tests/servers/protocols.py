"""One request over HTTP, FastCGI, SCGI or AJP on a raw socket and its answer in one shape, for
tests that check a behaviour of the event loop on every server built on it."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.servers import helpers
from tests.servers.ajp_client import exchange
from tests.servers.fastcgi_helpers import Running as FastCGIRunning
from tests.servers.fcgi_client import Client
from tests.servers.fcgi_client import request as fcgi_request
from tests.servers.helpers import read_all
from tests.servers.test_scgi import scgi
from wsgikit._ajp import encode_request as ajp_request
from wsgikit._fcgi import FCGI_END_REQUEST, FCGI_STDOUT
from wsgikit.servers._loop import EventServer
from wsgikit.servers.ajp import AJPServer
from wsgikit.servers.fastcgi import FastCGIServer
from wsgikit.servers.http import Server
from wsgikit.servers.scgi import SCGIServer


@dataclass
class Answer:
    status: int
    body: bytes
    whole: bool  # the protocol's end of a response came: last chunk, END_REQUEST, FIN (not RST)


def http_request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()


def read_http(sock: socket.socket) -> Answer:
    head, _, body = read_all(sock).partition(b"\r\n\r\n")
    if b"Transfer-Encoding: chunked" in head:
        body, whole = dechunk(body)
    else:
        whole = f"Content-Length: {len(body)}\r\n".encode() in head + b"\r\n"
    return Answer(int(head[9:12] or 0), body, whole)


def dechunk(data: bytes) -> tuple[bytes, bool]:
    """The body of a chunked message, and whether its last chunk came (RFC 9112 §7.1)."""
    body = b""
    while True:
        size_line, found, data = data.partition(b"\r\n")
        if not found:
            return body, False
        size = int(size_line, 16)
        if size == 0:
            return body, data == b"\r\n"
        body += data[:size]
        data = data[size + 2 :]


def cgi_answer(stdout: bytes, whole: bool) -> Answer:
    head, _, body = stdout.partition(b"\r\n\r\n")
    return Answer(int(head[8:11] or 0), body, whole)


def read_fcgi(sock: socket.socket) -> Answer:
    """Every record of one request (FCGI_KEEP_CONN off) until the server closes."""
    client = Client(sock)
    records = []
    while (record := client.record()) is not None:
        records.append(record)
    stdout = b"".join(r.content for r in records if r.type == FCGI_STDOUT)
    return cgi_answer(stdout, any(r.type == FCGI_END_REQUEST for r in records))


def read_scgi(sock: socket.socket) -> Answer:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:  # the server's word for a cut response (see scgi.py)
        return cgi_answer(data, False)
    return cgi_answer(data, True)


def read_ajp(sock: socket.socket) -> Answer:
    """Packets up to END_RESPONSE (the connection stays for the next request) or the close."""
    reply = exchange(sock, b"")
    return Answer(reply.status, reply.body, reply.reuse is not None)


@dataclass(frozen=True)
class Protocol:
    server_class: type[EventServer]
    handle: type[helpers.Running]
    request: Callable[[str], bytes]  # the bytes of a GET of a path
    read: Callable[[socket.socket], Answer]  # the answer, read until the server closes
    command: str  # of the wsgikit command line
    scheme: str  # in its "Serving ... on" banner

    def get(self, port: int, path: str) -> Answer:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(self.request(path))
            return self.read(sock)


HTTP = Protocol(Server, helpers.Running, http_request, read_http, "serve", "http")
FASTCGI = Protocol(
    FastCGIServer,
    FastCGIRunning,
    lambda path: fcgi_request(1, keep=False, PATH_INFO=path),
    read_fcgi,
    "fcgi",
    "fcgi",
)
SCGI = Protocol(SCGIServer, helpers.Running, scgi, read_scgi, "scgi", "scgi")
AJP = Protocol(
    AJPServer,
    helpers.Running,
    lambda path: ajp_request("GET", path.encode()),
    read_ajp,
    "ajp",
    "ajp",
)

PROTOCOLS = [
    pytest.param(HTTP, id="http"),
    pytest.param(FASTCGI, id="fcgi"),
    pytest.param(SCGI, id="scgi"),
    pytest.param(AJP, id="ajp"),
]
