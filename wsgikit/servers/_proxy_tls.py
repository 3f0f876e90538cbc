"""The PROXY header in front of TLS: read off the raw socket, never a byte past it.

A load balancer in TCP mode (HAProxy ``send-proxy-v2``, AWS NLB, nginx stream ``proxy_protocol
on``) sends the PROXY header, then the client's TLS bytes. Until the header is whole, a
connection on a TLS listener of :class:`~wsgikit.servers.proxy_protocol.ProxyProtocolServer` reads
through a :class:`PrefaceSocket`: its ``recv`` peeks (``MSG_PEEK``) and takes only the bytes that
belong to the header, so the ClientHello stays in the kernel and the handshake then starts on the
same descriptor (``TLSConfig.wrap``), run by the loop as on any TLS connection::

    sock = PrefaceSocket.adopt(accepted)     # recv() gives header bytes only
    ...                                      # the header is whole:
    sock = tls.wrap(sock, environ)           # the same fd, now TLS

A header has a known length (v1: up to its CRLF; v2: 16 bytes plus the length they give), so
no byte has to be handed back to OpenSSL. Bytes that cannot start (or go on with) a header are
returned without being taken: the connection judges them (a trusted peer must send a header; an
untrusted peer's TLS goes on, those bytes being its ClientHello).
"""

from __future__ import annotations

import socket

from wsgikit._proxyproto import MAX_LENGTH, ProxyProtocolError, parse_header

__all__ = ["PrefaceSocket"]


class PrefaceSocket(socket.socket):
    """An accepted socket whose ``recv`` returns the bytes of a PROXY header and nothing past it.

    ``taken``: the header's bytes taken so far (a header may come in pieces: those bytes are
    taken, so that a non-blocking poller does not see them again and again).
    """

    taken = b""

    @classmethod
    def adopt(cls, sock: socket.socket) -> PrefaceSocket:
        """``sock`` (accepted, non-blocking) as a PrefaceSocket: the same descriptor."""
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.setblocking(False)
        return adopted

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        peeked = super().recv(MAX_LENGTH, socket.MSG_PEEK)  # BlockingIOError: nothing yet
        if not peeked:
            return peeked  # the peer closed
        taken = self.taken
        try:
            header = parse_header(taken + peeked)
        except ProxyProtocolError:
            return peeked  # no header: left in the kernel, for TLS or for the connection to refuse
        # Incomplete: all of it is header (v1 has no CRLF yet, v2 is shorter than its length).
        size = len(peeked) if header is None else header.length - len(taken)
        data = super().recv(size)  # what we peeked is there: this takes ``size`` bytes
        self.taken = taken + data
        return data
