"""Bind specs: every accepted form and every refusal is one clear error naming the spec."""

from __future__ import annotations

import pytest

from wsgikit._binds import Bind, BindError, parse_bind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("127.0.0.1:8000", Bind("tcp", host="127.0.0.1", port=8000), id="ipv4"),
        pytest.param("localhost:0", Bind("tcp", host="localhost", port=0), id="port-zero"),
        pytest.param("[::1]:443", Bind("tcp", host="::1", port=443), id="ipv6"),
        pytest.param("0.0.0.0:80", Bind("tcp", host="0.0.0.0", port=80), id="any"),
        pytest.param("unix:/tmp/a.sock", Bind("unix", path="/tmp/a.sock"), id="unix"),
        pytest.param("fd://3", Bind("fd", fd=3), id="fd"),
    ],
)
def test_parse_bind(text: str, expected: Bind) -> None:
    got = parse_bind(text)
    assert (got.kind, got.host, got.port, got.path, got.fd) == (
        expected.kind,
        expected.host,
        expected.port,
        expected.path,
        expected.fd,
    )
    assert got.spec == text


@pytest.mark.parametrize(
    "text",
    ["8000", ":8000", "host:", "host:99999", "host:http", "[]:80", "unix:", "fd://x", "::1:80"],
)
def test_parse_bind_refuses(text: str) -> None:
    with pytest.raises(BindError, match=r"expected HOST:PORT|needs a|in brackets"):
        parse_bind(text)


def test_bind_error_is_a_value_error() -> None:
    # config.Setting(validate=...) turns ValueError into a ConfigError naming the source.
    assert issubclass(BindError, ValueError)
