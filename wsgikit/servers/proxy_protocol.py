"""The HTTP server behind a TCP load balancer that speaks the PROXY protocol (``--proxy-protocol``).

HAProxy (``send-proxy``/``send-proxy-v2``), nginx's stream module (``proxy_protocol on``) and cloud
load balancers send a PROXY header (:mod:`wsgikit._proxyproto`) before the first request of each
connection. From a trusted peer (``proxies``, i.e. ``--forwarded-allow-ips``; a unix-socket peer is
always trusted) the header is required: its client address becomes REMOTE_ADDR/REMOTE_PORT of
every request on the connection (gunicorn#899), and a missing or malformed header closes the
connection with one log line. A peer that is not trusted and sends one is answered 400 and
closed (it tried to choose its own address); its plain HTTP requests are served as usual.

With ``tls=`` the header comes before the client's TLS bytes (the load balancer passes TLS
through): it is read off the raw socket (:mod:`wsgikit.servers._proxy_tls`), on the loop and
within the header timeout, then the handshake starts on the same socket. An untrusted peer's
header is then closed with a log line (a plain-HTTP 400 would be no answer to a TLS client)::

    proxies = TrustedProxies(trusted=["10.0.0.0/8"])
    server = ProxyProtocolServer(app, ["0.0.0.0:8000"], proxies=proxies)
    server.run()
"""

from __future__ import annotations

import logging
import socket

from wsgikit._proxyproto import ProxyProtocolError, parse_header, sniff
from wsgikit.gateway import ConnectionInfo
from wsgikit.servers._connection import REJECT, WAIT
from wsgikit.servers._proxy_tls import PrefaceSocket
from wsgikit.servers._tls import TLSConfig
from wsgikit.servers.http import HTTPConnection, Server

__all__ = ["ProxyProtocolConnection", "ProxyProtocolServer"]

error_log = logging.getLogger("wsgikit.error")


class ProxyProtocolConnection(HTTPConnection):
    """HTTP/1.1 after a PROXY header: ``preface`` holds the header's bytes until it is whole
    (None once it was read), ``problem`` what was wrong with it (status 0: close silently);
    ``tls``: the TLS to start once the header is read (None: plain HTTP, or TLS started)."""

    __slots__ = ("preface", "problem", "tls")

    def __init__(self, server: Server, sock: socket.socket, info: ConnectionInfo) -> None:
        super().__init__(server, sock, info)
        self.preface: bytes | None = b""
        self.problem: tuple[int, str] | None = None
        self.tls = server.tls if type(self.sock) is PrefaceSocket else None

    def start_tls(self, sock: socket.socket, tls: TLSConfig, info: ConnectionInfo) -> socket.socket:
        """The header comes before the client's TLS bytes: read it off the raw socket first."""
        return PrefaceSocket.adopt(sock)

    def on_data(self, data: bytes) -> int:
        preface = self.preface
        if preface is None:
            return super().on_data(data)
        data = preface + data if preface else data
        if not self.peer_trusted():
            return self.untrusted(data)
        try:
            header = parse_header(data)
        except ProxyProtocolError as exc:
            self.problem = (0, str(exc))
            return REJECT
        if header is None:
            self.preface = data
            return WAIT
        self.preface = None
        if header.source is not None:  # kept for every request on this connection
            self.info = self.info.for_peer(header.source)
        if self.tls is not None:  # the ClientHello waits in the kernel, the loop reads it next
            return self.handshake_next()
        rest = data[header.length :]
        return super().on_data(rest) if rest else WAIT

    def untrusted(self, data: bytes) -> int:
        """A peer that may not send a PROXY header: refuse one, serve anything else."""
        verdict = sniff(data)
        if verdict is None:
            self.preface = data
            return WAIT
        self.preface = None
        if verdict:
            status = 0 if self.tls is not None else 400  # TLS: no plain-HTTP answer
            self.problem = (status, "PROXY protocol header from a peer that is not a trusted proxy")
            return REJECT
        if self.tls is not None:  # ``data`` was only peeked: it is the client's ClientHello
            return self.handshake_next()
        return super().on_data(data)

    def handshake_next(self) -> int:
        """Go on in TLS on the same socket: the loop's next read runs the handshake."""
        tls, self.tls = self.tls, None
        assert tls is not None
        self.sock = tls.wrap(self.sock, self.info.base)
        return WAIT

    def peer_trusted(self) -> bool:
        if self.sock.family == socket.AF_UNIX:
            return True  # only local processes allowed by the socket file's mode connect
        proxies = self.server.proxies
        return proxies is not None and proxies.trusts(self.info.base.get("REMOTE_ADDR", ""))

    def has_partial_request(self) -> bool:
        return bool(self.preface) or super().has_partial_request()

    def reject(self) -> None:
        problem, self.problem = self.problem, None
        if problem is None:
            super().reject()
            return
        status, detail = problem
        if status:
            self.fail(status, detail)
            return
        peer = self.info.base.get("REMOTE_ADDR", "-")
        error_log.warning("closing connection from %s: %s", peer, detail)
        self.server.close(self)

    def on_timeout(self) -> None:
        if self.preface is not None:
            peer = self.info.base.get("REMOTE_ADDR", "-")
            error_log.warning("closing connection from %s: no PROXY header in time", peer)
            self.server.close(self)
            return
        super().on_timeout()


class ProxyProtocolServer(Server):
    """:class:`~wsgikit.servers.http.Server` whose connections start with a PROXY header."""

    connection_class = ProxyProtocolConnection
