"""HAProxy's PROXY protocol, versions 1 (text) and 2 (binary): a sans-I/O header parser.

A load balancer that forwards TCP (HAProxy, nginx ``proxy_protocol on``, AWS NLB) sends one
header at the start of the connection with the client's address; the server reads it once and
keeps the address for every request on that connection. :func:`parse_header` takes the bytes
received so far and returns the header (and how many bytes it took), None when more bytes are
needed, or raises :class:`ProxyProtocolError`::

    header = parse_header(b"PROXY TCP4 198.51.100.1 10.0.0.1 56324 443\\r\\nGET / HTTP/1.1...")
    header.source, header.length     # ('198.51.100.1', 56324), 49

Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt. Version 2's LOCAL command
(health checks) and the UNSPEC and AF_UNIX families carry no client address: ``source`` is None
and the connection's own peer stands. TLVs after the addresses are skipped.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

__all__ = [
    "MAX_LENGTH",
    "V1_PREFIX",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxyProtocolError",
    "parse_header",
    "sniff",
]

V1_PREFIX = b"PROXY "
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V1_MAX = 107  # spec §2.1: the longest v1 line, CRLF included
_V2_FIXED = 16  # signature, version/command, family/transport, length
# spec §2.2: the address block of each family (bytes), checked against the length field.
_V2_ADDRESSES = {0x1: 12, 0x2: 36, 0x3: 216}
_V2_MAX = 4096  # address block and TLVs: far above what proxies send; more is refused
MAX_LENGTH = _V2_FIXED + _V2_MAX  # the longest header parse_header accepts (v1's is shorter)


class ProxyProtocolError(ValueError):
    """A malformed PROXY header, or bytes that are not one where one is required."""


class ProxyHeader(NamedTuple):
    """A parsed header: the client's and the proxy's (address, port), or None when the header
    gives none (v1 UNKNOWN, v2 LOCAL/UNSPEC/AF_UNIX); ``length``: bytes it took."""

    version: int
    source: tuple[str, int] | None
    destination: tuple[str, int] | None
    length: int


def sniff(data: bytes) -> bool | None:
    """Do these first bytes start a PROXY header (True), something else (False), or is it too
    early to tell (None, e.g. b"P" could be POST)?"""
    for signature in (V1_PREFIX, V2_SIGNATURE):
        if data.startswith(signature):
            return True
    if signature_prefix(data):
        return None
    return False


def signature_prefix(data: bytes) -> bool:
    return V1_PREFIX.startswith(data[:6]) or V2_SIGNATURE.startswith(data[:12])


def parse_header(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data``; None if incomplete; ProxyProtocolError if the bytes
    are no PROXY header or a malformed one."""
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    if data.startswith(V1_PREFIX):
        return _parse_v1(data)
    if signature_prefix(data):
        return None
    raise ProxyProtocolError("no PROXY protocol header at the start of the connection")


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, _V1_MAX)
    if end < 0:
        if len(data) >= _V1_MAX:
            raise ProxyProtocolError(f"PROXY v1 line longer than {_V1_MAX} bytes")
        return None
    fields = data[:end].split(b" ")
    if len(fields) >= 2 and fields[1] == b"UNKNOWN":  # §2.1: the rest is to be ignored
        return ProxyHeader(1, None, None, end + 2)
    if len(fields) != 6 or fields[1] not in (b"TCP4", b"TCP6"):
        raise ProxyProtocolError(f"malformed PROXY v1 line: {data[:end]!r}")
    version = 4 if fields[1] == b"TCP4" else 6
    source = _v1_address(fields[2], fields[4], version)
    destination = _v1_address(fields[3], fields[5], version)
    return ProxyHeader(1, source, destination, end + 2)


def _v1_address(address: bytes, port: bytes, version: int) -> tuple[str, int]:
    try:
        ip = ipaddress.ip_address(address.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ProxyProtocolError(f"bad PROXY v1 address {address!r}") from None
    if ip.version != version:
        raise ProxyProtocolError(f"PROXY v1 address {address!r} is not IPv{version}")
    # §2.1: a port is a decimal number without leading zeros, 0 to 65535.
    if not (port.isdigit() and len(port) <= 5 and (port == b"0" or not port.startswith(b"0"))):
        raise ProxyProtocolError(f"bad PROXY v1 port {port!r}")
    if int(port) > 65535:
        raise ProxyProtocolError(f"bad PROXY v1 port {port!r}")
    return str(ip), int(port)


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < _V2_FIXED:
        return None
    version_command, family_transport, length = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2:
        raise ProxyProtocolError(f"PROXY v2 header with version {version_command >> 4}")
    command = version_command & 0x0F
    if command not in (0, 1):  # LOCAL, PROXY
        raise ProxyProtocolError(f"PROXY v2 header with unknown command {command}")
    if length > _V2_MAX:
        raise ProxyProtocolError(f"PROXY v2 header of {length} bytes (at most {_V2_MAX})")
    family, transport = family_transport >> 4, family_transport & 0x0F
    if family > 3 or transport > 2:
        raise ProxyProtocolError(f"PROXY v2 header with unknown family 0x{family_transport:02x}")
    needed = _V2_ADDRESSES.get(family, 0)
    if length < needed:
        raise ProxyProtocolError(f"PROXY v2 address block of {length} bytes, {needed} needed")
    total = _V2_FIXED + length
    if len(data) < total:
        return None
    if command == 0 or family in (0, 3):  # LOCAL, UNSPEC, AF_UNIX: no client address
        return ProxyHeader(2, None, None, total)
    size = 4 if family == 1 else 16
    block = data[_V2_FIXED:]
    src = ipaddress.ip_address(bytes(block[:size]))
    dst = ipaddress.ip_address(bytes(block[size : 2 * size]))
    src_port, dst_port = struct.unpack_from("!HH", block, 2 * size)
    return ProxyHeader(2, (str(src), src_port), (str(dst), dst_port), total)
