"""The PROXY protocol codec (wsgikit._proxyproto): v1 and v2, whole, in pieces, and malformed."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsgikit._proxyproto import (
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    parse_header,
    sniff,
)

REQUEST = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def v2(
    command: int = 1, family: int = 1, transport: int = 1, addresses: bytes = b"", tlvs: bytes = b""
) -> bytes:
    """A v2 header: command 0 LOCAL / 1 PROXY; family 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX."""
    block = addresses + tlvs
    return (
        V2_SIGNATURE
        + struct.pack("!BBH", 0x20 | command, family << 4 | transport, len(block))
        + block
    )


def inet(src: str, dst: str, sport: int, dport: int) -> bytes:
    packed = ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed
    return packed + struct.pack("!HH", sport, dport)


V1_TCP4 = b"PROXY TCP4 198.51.100.1 10.0.0.1 56324 443\r\n"
V1_TCP6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n"
V2_INET = v2(addresses=inet("198.51.100.1", "10.0.0.1", 56324, 443))
V2_INET6 = v2(family=2, addresses=inet("2001:db8::1", "2001:db8::2", 1, 80))
V2_TLVS = v2(addresses=inet("198.51.100.1", "10.0.0.1", 1, 2), tlvs=b"\x01\x00\x02h2\x04\x00\x00")
V2_LOCAL = v2(command=0, family=0, transport=0)
V2_UNIX = v2(family=3, addresses=b"/tmp/a".ljust(108, b"\0") + b"/tmp/b".ljust(108, b"\0"))

CASES = [
    pytest.param(
        V1_TCP4,
        ProxyHeader(1, ("198.51.100.1", 56324), ("10.0.0.1", 443), len(V1_TCP4)),
        id="v1-tcp4",
    ),
    pytest.param(
        V1_TCP6,
        ProxyHeader(1, ("2001:db8::1", 1), ("2001:db8::2", 65535), len(V1_TCP6)),
        id="v1-tcp6",
    ),
    pytest.param(b"PROXY UNKNOWN whatever\r\n", ProxyHeader(1, None, None, 24), id="v1-unknown"),
    pytest.param(
        V2_INET,
        ProxyHeader(2, ("198.51.100.1", 56324), ("10.0.0.1", 443), len(V2_INET)),
        id="v2-inet",
    ),
    pytest.param(
        V2_INET6,
        ProxyHeader(2, ("2001:db8::1", 1), ("2001:db8::2", 80), len(V2_INET6)),
        id="v2-inet6",
    ),
    pytest.param(
        V2_TLVS, ProxyHeader(2, ("198.51.100.1", 1), ("10.0.0.1", 2), len(V2_TLVS)), id="v2-tlvs"
    ),
    pytest.param(V2_LOCAL, ProxyHeader(2, None, None, len(V2_LOCAL)), id="v2-local"),
    pytest.param(V2_UNIX, ProxyHeader(2, None, None, len(V2_UNIX)), id="v2-unix"),
]


@pytest.mark.parametrize(("data", "header"), CASES)
def test_a_header_parses_and_says_where_the_request_starts(
    data: bytes, header: ProxyHeader
) -> None:
    assert parse_header(data + REQUEST) == header
    assert (data + REQUEST)[header.length :] == REQUEST


@pytest.mark.parametrize(("data", "header"), CASES)
def test_every_prefix_of_a_header_asks_for_more(data: bytes, header: ProxyHeader) -> None:
    for end in range(len(data)):
        assert parse_header(data[:end]) is None


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"GET / HTTP/1.1\r\n", id="missing"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", id="v1-fields"),
        pytest.param(b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", id="v1-protocol"),
        pytest.param(b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", id="v1-family"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", id="v1-leading-zero"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", id="v1-port"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", id="v1-lf"),
        pytest.param(b"PROXY " + b"x" * 120, id="v1-long"),
        pytest.param(V2_SIGNATURE + b"\x11\x11\x00\x0c" + b"\0" * 12, id="v2-version"),
        pytest.param(V2_SIGNATURE + b"\x22\x11\x00\x0c" + b"\0" * 12, id="v2-command"),
        pytest.param(V2_SIGNATURE + b"\x21\x41\x00\x0c" + b"\0" * 12, id="v2-family"),
        pytest.param(v2(addresses=b"\0" * 8), id="v2-short-block"),
        pytest.param(V2_SIGNATURE + b"\x21\x11\xff\xff", id="v2-huge"),
    ],
)
def test_a_malformed_or_missing_header_is_refused(data: bytes) -> None:
    with pytest.raises(ProxyProtocolError):
        parse_header(data + b"\r\n" * 60)


def test_sniff_waits_while_the_bytes_could_be_either() -> None:
    assert sniff(b"P") is None
    assert sniff(b"\r\n\r\n") is None
    assert sniff(b"POST / HTTP/1.1\r\n") is False
    assert sniff(b"PROXY TCP4") is True
    assert sniff(V2_SIGNATURE) is True


@settings(deadline=None, max_examples=400)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.sampled_from([V1_TCP4, V2_INET, V2_INET6, V2_TLVS, V2_LOCAL]).flatmap(
            lambda good: st.tuples(st.integers(0, len(good)), st.binary(max_size=40)).map(
                lambda cut: good[: cut[0]] + cut[1]
            )
        ),
    )
)
def test_any_bytes_parse_wait_or_raise_the_protocol_error(data: bytes) -> None:
    try:
        header = parse_header(data)
    except ProxyProtocolError:
        return
    assert header is None or 0 < header.length <= len(data)
