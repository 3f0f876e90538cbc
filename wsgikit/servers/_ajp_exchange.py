"""What one AJP request needs besides the connection: its CGI variables and its response sink.

Used by :class:`wsgikit.servers.ajp.AJPConnection`. :func:`cgi_params` turns a FORWARD_REQUEST
into the CGI meta-variables every gateway hands to ``_cgivars.cgi_environ``; :class:`AJPSink`
takes the engine's CGI-style response (``Status:`` head, then the body) and makes AJP packets of
it: one SEND_HEADERS, then SEND_BODY_CHUNKs::

    sink = AJPSink(conn, app)
    outcome = sink.run(environ)  # run_app, pausable inline
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from wsgikit._ajp import ForwardRequest
from wsgikit.servers._cgivars import error_log
from wsgikit.servers._gateway_connection import AppSink, Piece
from wsgikit.types import WSGIApplication

if TYPE_CHECKING:
    from wsgikit.servers.ajp import AJPConnection

__all__ = ["AJPSink", "Piece", "cgi_params", "secret_of"]

_SSL = {  # AJP attribute -> the mod_ssl variable a CGI app knows it by
    "ssl_cert": b"SSL_CLIENT_CERT",
    "ssl_cipher": b"SSL_CIPHER",
    "ssl_session": b"SSL_SESSION_ID",
    "ssl_key_size": b"SSL_CIPHER_USEKEYSIZE",
    "remote_user": b"REMOTE_USER",
    "auth_type": b"AUTH_TYPE",
}
_SERVER_ERROR = (500, b"Internal Server Error")
_ATTRIBUTE_NAME = re.compile(rb"[A-Za-z0-9_]{1,64}")


def cgi_params(request: ForwardRequest) -> list[tuple[bytes, bytes]]:
    """The request as CGI variables (RFC 3875 §4.1), HTTP headers as HTTP_* (§4.1.18)."""
    query = request.attributes.get("query_string", b"")
    uri = request.uri + b"?" + query if query else request.uri
    params = [
        (b"REQUEST_METHOD", request.method.encode("ascii")),
        (b"SERVER_PROTOCOL", request.protocol or b"HTTP/1.1"),
        (b"REQUEST_URI", uri),  # still percent-encoded: cgi_environ decodes PATH_INFO from it
        (b"QUERY_STRING", query),
        (b"REMOTE_ADDR", request.remote_addr),
        (b"SERVER_NAME", request.server_name),
        (b"SERVER_PORT", str(request.server_port).encode()),
    ]
    if request.remote_host and request.remote_host != request.remote_addr:
        params.append((b"REMOTE_HOST", request.remote_host))
    if request.is_ssl:
        params.append((b"HTTPS", b"on"))
    for name, variable in _SSL.items():
        if name in request.attributes:
            params.append((variable, request.attributes[name]))
    for key, value in request.req_attributes:
        if key == b"AJP_REMOTE_PORT":  # httpd sends the client's port as this attribute
            params.append((b"REMOTE_PORT", value))
        elif key != b"SECRET" and _ATTRIBUTE_NAME.fullmatch(key):
            # httpd sends its AJP_* variables without the prefix (``SetEnv AJP_TENANT x`` comes
            # as TENANT): the app finds them under the name the config gave them.
            params.append((key if key.startswith(b"AJP_") else b"AJP_" + key, value))
    params += _header_params(request.headers)
    return params


def secret_of(request: ForwardRequest) -> bytes | None:
    """The request's secret: the ``secret`` attribute (httpd >= 2.4.42 ``ProxyPass ...
    secret=``), else the ``SECRET`` request attribute (``SetEnv AJP_SECRET``, older httpd)."""
    given = request.attributes.get("secret")
    if given is None:
        given = next((v for k, v in request.req_attributes if k == b"SECRET"), None)
    return given


def _header_params(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    merged: dict[bytes, bytes] = {}
    for name, value in headers:
        if b"_" in name:  # "X_A" and "X-A" would both be HTTP_X_A: a spoofing vector, dropped
            continue
        key = name.upper().replace(b"-", b"_")
        if key not in (b"CONTENT_TYPE", b"CONTENT_LENGTH"):
            key = b"HTTP_" + key
        if key in merged:  # RFC 9110 §5.3: repeated fields combine; cookies with "; " (6265 §5.4)
            merged[key] += (b"; " if key == b"HTTP_COOKIE" else b", ") + value
        else:
            merged[key] = value
    return list(merged.items())


class AJPSink(AppSink["AJPConnection"]):
    """The response sink of one request: SEND_HEADERS from the engine's head, then body chunks.

    A list or tuple body, or the error page of an app that raised, goes out with END_RESPONSE in
    one write (:class:`AppSink`).
    """

    __slots__ = ("headed", "mute")

    def __init__(self, conn: AJPConnection, app: WSGIApplication) -> None:
        super().__init__(conn, app)
        self.headed = False
        self.mute = False  # the headers did not fit a packet: a 500 went out, the body is dropped

    def send(self, *parts: bytes) -> None:
        conn = self.conn
        if conn.gone:
            raise OSError("the AJP connection is gone")
        codec = conn.codec
        pieces: list[Piece] = []
        if not self.headed:
            # The engine's first part starts with the whole CGI head (gateway.py _Call.head).
            first = parts[0]
            end = first.index(b"\r\n\r\n")
            pieces.append(self.headers(first[:end]))
            parts = (first[end + 4 :], *parts[1:])
            self.headed = True
        if not self.mute:
            for part in parts:
                if part:
                    pieces += codec.body(part)
        if self.hold:
            self.held += pieces
        elif pieces:
            conn.send(*pieces)

    def headers(self, head: bytes) -> bytes:
        """SEND_HEADERS for the engine's ``Status: ...`` head; a 500 when it does not fit."""
        lines = head.split(b"\r\n")
        status = lines[0].partition(b": ")[2]
        pairs = [line.partition(b": ")[::2] for line in lines[1:]]
        try:
            return self.conn.codec.send_headers(int(status[:3]), status[4:], pairs)
        except ValueError as exc:
            error_log.error("%s; answering 500 instead", exc)
            self.mute = True
            return self.conn.codec.send_headers(*_SERVER_ERROR, [(b"Content-Length", b"0")])
