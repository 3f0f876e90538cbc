"""The trusted-proxy settings of serve, fcgi and scgi: parsed, validated, turned into keywords."""

from __future__ import annotations

from typing import Any

import pytest

from wsgikit._proxy_settings import PROXIES, proxy_options
from wsgikit.cli import COMMANDS, main
from wsgikit.config import resolve


def options(command: str, **cli: object) -> dict[str, Any]:
    settings = resolve(COMMANDS[command].settings, section=command, cli=cli, environ={})
    return proxy_options(settings)


@pytest.mark.parametrize("command", ["serve", "fcgi", "scgi"])
def test_every_loop_server_takes_the_proxy_settings(command: str) -> None:
    names = {s.name for s in COMMANDS[command].settings}
    assert {s.name for s in PROXIES} <= names


def test_only_serve_takes_proxy_protocol() -> None:
    assert [
        c for c, cmd in COMMANDS.items() if "proxy_protocol" in {s.name for s in cmd.settings}
    ] == ["serve"]


def test_the_default_trusts_this_host_for_for_and_proto() -> None:
    proxies = options("serve")["proxies"]
    assert proxies.trusts("127.0.0.1") and proxies.trusts("::1")
    assert not proxies.trusts("10.0.0.1")
    assert proxies.hops == {"x_for": 1, "x_proto": 1, "x_host": 0, "x_port": 0, "x_prefix": 0}


def test_hops_named_override_the_defaults() -> None:
    proxies = options("fcgi", forwarded_hops=["for=2", "host=1"], forwarded_allow_ips=["*"])[
        "proxies"
    ]
    assert proxies.hops == {"x_for": 2, "x_proto": 1, "x_host": 1, "x_port": 0, "x_prefix": 0}
    assert proxies.trusts("203.0.113.1")


def test_the_command_line_takes_comma_lists_as_gunicorn() -> None:
    proxies = options(
        "serve", forwarded_allow_ips=["10.0.0.0/8,::1"], forwarded_hops=["for=2,port=1"]
    )["proxies"]
    assert proxies.trusts("10.2.3.4") and proxies.trusts("::1") and not proxies.trusts("127.0.0.1")
    assert (proxies.hops["x_for"], proxies.hops["x_port"]) == (2, 1)


def test_an_empty_list_trusts_nobody() -> None:
    assert not options("serve", forwarded_allow_ips=[""])["proxies"].trusts("127.0.0.1")


def test_forwarded_header_chooses_rfc_7239() -> None:
    proxies = options("scgi", forwarded_header="forwarded")["proxies"]
    assert proxies.forwarded


def test_the_environment_takes_comma_lists() -> None:
    settings = resolve(
        COMMANDS["serve"].settings,
        section="serve",
        environ={
            "WSGIKIT_FORWARDED_ALLOW_IPS": "10.0.0.0/8, ::1",
            "WSGIKIT_FORWARDED_HOPS": "for=3",
        },
    )
    proxies = proxy_options(settings)["proxies"]
    assert proxies.trusts("10.1.1.1") and proxies.hops["x_for"] == 3


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--forwarded-allow-ips", "10.0.0.0/33", "expected an IP address, a CIDR network or '*'"),
        ("--forwarded-hops", "via=1", "expected NAME=N"),
        ("--forwarded-hops", "for=-1", "expected NAME=N"),
        ("--forwarded-header", "x-real-ip", "expected one of"),
    ],
)
def test_a_bad_value_is_one_clear_line(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "nomodule:app", flag, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert flag in err and message in err
