"""The trusted-proxy core (wsgikit._forwarded): who is believed, how far, and what changes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from wsgikit._forwarded import ORIGINAL_KEY, TrustedProxies
from wsgikit._forwarded_syntax import Node, parse_forwarded, parse_host, parse_node


def environ(peer: str = "127.0.0.1", **headers: str) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REMOTE_ADDR": peer,
        "REMOTE_PORT": "40000",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "backend:8000",
        "SERVER_NAME": "backend",
        "SERVER_PORT": "8000",
        "SCRIPT_NAME": "",
    }
    env.update({"HTTP_" + name.upper(): value for name, value in headers.items()})
    return env


def applied(proxies: TrustedProxies, env: dict[str, Any]) -> dict[str, Any]:
    proxies.apply(env)
    return env


SPOOF = {
    "x_forwarded_for": "6.6.6.6",
    "x_forwarded_proto": "https",
    "x_forwarded_host": "evil.example",
    "x_forwarded_port": "443",
    "x_forwarded_prefix": "/evil",
    "forwarded": "for=6.6.6.6;proto=https;host=evil.example",
}
EVERYTHING = {"x_for": 1, "x_proto": 1, "x_host": 1, "x_port": 1, "x_prefix": 1}


@pytest.mark.parametrize("forwarded", [False, True])
def test_spoofing_from_an_untrusted_peer_changes_nothing(forwarded: bool) -> None:
    proxies = TrustedProxies(forwarded=forwarded, **EVERYTHING)
    env = applied(proxies, environ("203.0.113.7", **SPOOF))
    before = environ("203.0.113.7")
    assert {k: v for k, v in env.items() if k != ORIGINAL_KEY} == before


def test_untrusted_headers_are_kept_only_as_originals() -> None:
    env = applied(TrustedProxies(), environ("203.0.113.7", **SPOOF))
    assert env[ORIGINAL_KEY]["HTTP_X_FORWARDED_FOR"] == "6.6.6.6"
    assert env[ORIGINAL_KEY]["HTTP_FORWARDED"].startswith("for=6.6.6.6")


def test_a_trusted_peer_sets_the_client_address_and_scheme() -> None:
    env = applied(
        TrustedProxies(), environ(x_forwarded_for="198.51.100.1", x_forwarded_proto="https")
    )
    assert env["REMOTE_ADDR"] == "198.51.100.1"
    assert "REMOTE_PORT" not in env  # the proxy's port is not the client's
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTPS"] == "on"


def test_the_originals_are_kept() -> None:
    env = applied(TrustedProxies(), environ(x_forwarded_for="198.51.100.1"))
    assert env[ORIGINAL_KEY]["REMOTE_ADDR"] == "127.0.0.1"
    assert env[ORIGINAL_KEY]["REMOTE_PORT"] == "40000"
    assert env[ORIGINAL_KEY]["wsgi.url_scheme"] == "http"


def test_x_for_1_takes_the_address_the_proxy_added() -> None:
    env = applied(TrustedProxies(), environ(x_forwarded_for="6.6.6.6, 198.51.100.1"))
    assert env["REMOTE_ADDR"] == "198.51.100.1"


def test_x_for_2_walks_over_a_trusted_second_proxy() -> None:
    proxies = TrustedProxies(trusted=["127.0.0.1", "10.0.0.0/8"], x_for=2)
    env = applied(proxies, environ(x_forwarded_for="6.6.6.6, 198.51.100.1, 10.1.2.3"))
    assert env["REMOTE_ADDR"] == "198.51.100.1"


def test_the_walk_stops_at_the_first_untrusted_hop() -> None:
    proxies = TrustedProxies(x_for=3)
    env = applied(proxies, environ(x_forwarded_for="6.6.6.6, 1.1.1.1, 198.51.100.1"))
    assert env["REMOTE_ADDR"] == "198.51.100.1"  # what an untrusted hop says is not believed


def test_trusting_everyone_counts_hops_as_werkzeug() -> None:
    proxies = TrustedProxies(trusted="*", x_for=2)
    env = applied(proxies, environ("203.0.113.7", x_forwarded_for="6.6.6.6, 1.1.1.1, 2.2.2.2"))
    assert env["REMOTE_ADDR"] == "1.1.1.1"


def test_fewer_addresses_than_hops_is_ignored() -> None:
    proxies = TrustedProxies(trusted="*", x_for=2)
    env = applied(proxies, environ(x_forwarded_for="198.51.100.1"))
    assert env["REMOTE_ADDR"] == "127.0.0.1"


def test_proto_takes_the_nth_value_from_the_right() -> None:
    proxies = TrustedProxies(x_proto=2)
    assert applied(proxies, environ(x_forwarded_proto="https, http"))["wsgi.url_scheme"] == "https"


def test_a_hop_count_of_zero_is_never_believed_and_removed() -> None:
    env = applied(TrustedProxies(), environ(x_forwarded_host="evil.example"))
    assert env["HTTP_HOST"] == "backend:8000"
    assert "HTTP_X_FORWARDED_HOST" not in env


def test_believed_headers_stay_for_the_app() -> None:
    env = applied(TrustedProxies(), environ(x_forwarded_for="198.51.100.1"))
    assert env["HTTP_X_FORWARDED_FOR"] == "198.51.100.1"


def test_host_sets_server_name_and_the_scheme_port() -> None:
    proxies = TrustedProxies(x_host=1)
    env = applied(proxies, environ(x_forwarded_host="www.example.com", x_forwarded_proto="https"))
    assert (env["HTTP_HOST"], env["SERVER_NAME"], env["SERVER_PORT"]) == (
        "www.example.com",
        "www.example.com",
        "443",
    )


def test_host_with_a_port() -> None:
    env = applied(TrustedProxies(x_host=1), environ(x_forwarded_host="[2001:db8::1]:8443"))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("[2001:db8::1]", "8443")


def test_port_rewrites_server_port_and_host() -> None:
    env = applied(TrustedProxies(x_port=1), environ(x_forwarded_port="8443"))
    assert (env["SERVER_PORT"], env["HTTP_HOST"]) == ("8443", "backend:8443")


def test_prefix_becomes_script_name() -> None:
    env = applied(TrustedProxies(x_prefix=1), environ(x_forwarded_prefix="/app%20x/"))
    assert env["SCRIPT_NAME"] == "/app x"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x_forwarded_for", "not-an-address"),
        ("x_forwarded_for", "1.2.3.4:99999"),
        ("x_forwarded_proto", "gopher"),
        ("x_forwarded_host", "a b"),
        ("x_forwarded_port", "0x50"),
        ("x_forwarded_prefix", "no-slash"),
        ("forwarded", 'for="unclosed'),
    ],
)
def test_a_malformed_value_is_ignored_with_a_log_line(
    header: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    proxies = TrustedProxies(forwarded=header == "forwarded", **EVERYTHING)
    with caplog.at_level(logging.DEBUG, logger="wsgikit.proxy"):
        env = applied(proxies, environ(**{header: value}))
    kept = {k: v for k, v in env.items() if k not in (ORIGINAL_KEY, "HTTP_" + header.upper())}
    assert kept == environ()
    assert len(caplog.records) == 1
    assert "malformed" in caplog.records[0].getMessage()


def test_forwarded_quoted_ipv6_with_port_and_proto() -> None:
    proxies = TrustedProxies(forwarded=True)
    env = applied(proxies, environ(forwarded='for="[2001:db8:cafe::17]:4711";proto=https'))
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("2001:db8:cafe::17", "4711")
    assert env["wsgi.url_scheme"] == "https"


def test_forwarded_host() -> None:
    proxies = TrustedProxies(forwarded=True, x_host=1)
    env = applied(proxies, environ(forwarded='For=198.51.100.1;Host="example.com:8080"'))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "8080")


@pytest.mark.parametrize("node", ["unknown", "_hidden", "_SEVKISEK"])
def test_forwarded_unknown_and_obfuscated_clients_are_named_so(node: str) -> None:
    env = applied(TrustedProxies(forwarded=True), environ(forwarded=f"for={node}"))
    assert env["REMOTE_ADDR"] == node  # never the proxy's own (perhaps privileged) address


def test_forwarded_walks_elements_right_to_left() -> None:
    proxies = TrustedProxies(forwarded=True, x_for=2, trusted=["127.0.0.1", "10.0.0.0/8"])
    value = "for=6.6.6.6, for=198.51.100.1;proto=https, for=10.0.0.5"
    assert applied(proxies, environ(forwarded=value))["REMOTE_ADDR"] == "198.51.100.1"


def test_forwarded_mode_ignores_x_forwarded() -> None:
    env = applied(TrustedProxies(forwarded=True), environ(x_forwarded_for="6.6.6.6"))
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert "HTTP_X_FORWARDED_FOR" not in env


def test_x_forwarded_mode_ignores_forwarded() -> None:
    env = applied(TrustedProxies(), environ(forwarded="for=6.6.6.6"))
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert "HTTP_FORWARDED" not in env


def test_ipv4_mapped_peer_is_trusted_as_its_ipv4() -> None:
    env = applied(TrustedProxies(), environ("::ffff:127.0.0.1", x_forwarded_for="198.51.100.1"))
    assert env["REMOTE_ADDR"] == "198.51.100.1"


def test_ipv6_loopback_is_trusted_by_default() -> None:
    env = applied(TrustedProxies(), environ("::1", x_forwarded_for="2001:db8::5"))
    assert env["REMOTE_ADDR"] == "2001:db8::5"


def test_a_server_may_vouch_for_a_peer_without_an_address() -> None:
    env = environ("", x_forwarded_for="198.51.100.1")
    TrustedProxies().apply(env, peer_trusted=True)
    assert env["REMOTE_ADDR"] == "198.51.100.1"


def test_applying_twice_starts_from_the_originals() -> None:
    env = environ(x_forwarded_for="6.6.6.6, 198.51.100.1")
    TrustedProxies().apply(env)
    TrustedProxies(trusted="*", x_for=2).apply(env)
    assert env["REMOTE_ADDR"] == "6.6.6.6"
    assert env[ORIGINAL_KEY]["REMOTE_ADDR"] == "127.0.0.1"


def test_no_proxy_header_leaves_the_environ_alone() -> None:
    assert applied(TrustedProxies(), environ()) == environ()


@pytest.mark.parametrize(
    "options",
    [{"trusted": ["10.0.0.0/33"]}, {"trusted": ["nope"]}, {"x_for": -1}, {"x_host": True}],
)
def test_bad_options_are_refused_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TrustedProxies(**options)


def test_parse_forwarded_grammar() -> None:
    value = 'for=192.0.2.43, ,for="[2001:db8::1]";by=_x;PROTO="ht\\tps" , for=unknown'
    assert parse_forwarded(value) == [
        {"for": "192.0.2.43"},
        {"for": "[2001:db8::1]", "by": "_x", "proto": "https"},
        {"for": "unknown"},
    ]


@pytest.mark.parametrize("value", ["for", "for=", "for=a;for=b", "for=a b", 'for="x', "=x"])
def test_parse_forwarded_refuses_malformed(value: str) -> None:
    with pytest.raises(ValueError):
        parse_forwarded(value)


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("192.0.2.1", Node("192.0.2.1", None)),
        ("192.0.2.1:80", Node("192.0.2.1", "80")),
        ("[2001:db8::1]:81", Node("2001:db8::1", "81")),
        ("2001:db8::1", Node("2001:db8::1", None)),
        ("unknown:_p", Node("unknown", None)),
        ("_obf:8", Node("_obf", "8")),
    ],
)
def test_parse_node_forms(text: str, node: Node) -> None:
    assert parse_node(text) == node


@pytest.mark.parametrize("text", ["", "[::1", "[nope]", "1.2.3", "1.2.3.4:", "a.b", "_"])
def test_parse_node_refuses_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        parse_node(text)


def test_parse_host_forms() -> None:
    assert parse_host("example.com") == ("example.com", None)
    assert parse_host("example.com:080") == ("example.com", "80")
    assert parse_host("[::1]:8") == ("[::1]", "8")
    for bad in ("", "a:b:c", "[::1]x", "a/b", "a:99999"):
        with pytest.raises(ValueError):
            parse_host(bad)
