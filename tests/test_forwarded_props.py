"""Property tests for the proxy-header parsers and policy: any text parses or is refused with
ValueError, and apply() never raises, whatever the headers say."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wsgikit._forwarded import ORIGINAL_KEY, PROXY_HEADERS, TrustedProxies
from wsgikit._forwarded_syntax import parse_forwarded, parse_host, parse_node

FAST = settings(deadline=None, max_examples=300)
# Latin-1 text (PEP 3333 environ values), weighted towards the characters the grammar cares about.
PIECES = st.sampled_from(
    [
        '"',
        "\\",
        ";",
        ",",
        "=",
        ":",
        "[",
        "]",
        " ",
        "for",
        "proto",
        "host",
        "_",
        "%",
        "unknown",
        "1.2.3.4",
        "::1",
        "2001:db8::1",
        "https",
        "http",
        "/",
        "\t",
        "\x00",
        "\xff",
        "-",
        "8080",
    ]
)
TEXT = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=255), max_size=60),
    st.lists(PIECES, max_size=20).map("".join),
)


def parses_or_refuses(parse: Any, text: str) -> None:
    with contextlib.suppress(ValueError):
        parse(text)


@FAST
@given(TEXT)
def test_parse_forwarded_parses_or_raises_value_error(text: str) -> None:
    parses_or_refuses(parse_forwarded, text)


@FAST
@given(TEXT)
def test_parse_node_parses_or_raises_value_error(text: str) -> None:
    parses_or_refuses(parse_node, text)


@FAST
@given(TEXT)
def test_parse_host_parses_or_raises_value_error(text: str) -> None:
    parses_or_refuses(parse_host, text)


@FAST
@given(
    st.lists(st.tuples(st.sampled_from(PROXY_HEADERS), TEXT), max_size=6),
    st.sampled_from(["127.0.0.1", "203.0.113.9", "::1", "", "garbage"]),
    st.booleans(),
    st.integers(min_value=0, max_value=3),
)
def test_apply_never_raises_and_keeps_the_originals(
    headers: list[tuple[str, str]], peer: str, forwarded: bool, hops: int
) -> None:
    counts = {"x_for": hops, "x_proto": hops, "x_host": hops, "x_port": hops, "x_prefix": hops}
    proxies = TrustedProxies(
        trusted="*" if peer == "garbage" else ("127.0.0.1", "::1"), forwarded=forwarded, **counts
    )
    env: dict[str, Any] = {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http", "SCRIPT_NAME": ""}
    env.update(headers)
    before = dict(env)
    proxies.apply(env)
    if any(key in before for key in PROXY_HEADERS):
        assert env[ORIGINAL_KEY] == before
    assert env["wsgi.url_scheme"] in ("http", "https")
