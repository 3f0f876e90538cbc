"""The command-line settings for trusted proxies (serve, fcgi, scgi) and what they build.

``--forwarded-allow-ips`` (CIDRs or ``*``; default 127.0.0.1 and ::1) says whose proxy headers
the server believes, ``--forwarded-hops`` how many hops of each (werkzeug's counts, default
``for=1 proto=1``), ``--forwarded-header`` which family (``x-forwarded`` or RFC 7239
``forwarded``); ``--proxy-protocol`` (serve) requires a PROXY header from those peers::

    wsgikit serve app:app --forwarded-allow-ips 10.0.0.0/8,::1 --forwarded-hops for=2,host=1
    WSGIKIT_FORWARDED_HOPS=for=2,host=1 wsgikit fcgi app:app
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wsgikit._forwarded import DEFAULT_TRUSTED, TrustedProxies, parse_network
from wsgikit.config import Setting, parse_list

__all__ = ["PROXIES", "PROXY_PROTOCOL", "proxy_options"]

_HOP_NAMES = ("for", "proto", "host", "port", "prefix")
_DEFAULT_HOPS = {"for": 1, "proto": 1, "host": 0, "port": 0, "prefix": 0}


def _network(text: str) -> None:
    for item in parse_list(text):  # "10.0.0.0/8,::1" on the command line too, as gunicorn's
        parse_network(item)


def parse_hop(text: str) -> tuple[str, int]:
    """``for=2`` -> ("for", 2); ValueError naming the accepted forms."""
    name, equals, count = text.strip().partition("=")
    if not equals or name not in _HOP_NAMES or not (count.isascii() and count.isdigit()):
        raise ValueError(f"expected NAME=N with NAME one of {', '.join(_HOP_NAMES)}")
    return name, int(count)


def _hop(text: str) -> None:
    for item in parse_list(text):
        parse_hop(item)


def _items(values: Iterable[str]) -> list[str]:
    """The comma-separated items of every value given (repeated flags, or one list)."""
    return [item for value in values for item in parse_list(value)]


PROXIES = (
    Setting(
        "forwarded_allow_ips",
        list,
        DEFAULT_TRUSTED,
        "peers (addresses or CIDRs, comma-separated; * for all, empty for none) whose "
        "X-Forwarded-*/Forwarded headers are believed; from other peers they are removed "
        "(unix-socket peers are trusted; fcgi/scgi judge the web server's REMOTE_ADDR)",
        validate=_network,
        metavar="CIDR[,CIDR]",
    ),
    Setting(
        "forwarded_hops",
        list,
        ("for=1", "proto=1"),
        "proxies in front that set each header, as werkzeug's ProxyFix, e.g. for=2,host=1: "
        "for, proto, host, port, prefix (unnamed ones: for=1 proto=1, the others 0)",
        validate=_hop,
        metavar="NAME=N[,NAME=N]",
    ),
    Setting(
        "forwarded_header",
        str,
        "x-forwarded",
        "which headers to believe: X-Forwarded-* or RFC 7239 Forwarded",
        choices=("x-forwarded", "forwarded"),
    ),
)
PROXY_PROTOCOL = Setting(
    "proxy_protocol",
    bool,
    False,
    "require a HAProxy PROXY header (v1 or v2) at the start of each connection from the "
    "--forwarded-allow-ips peers; its client address holds for the whole connection "
    "(with --certfile the header comes first, then the client's TLS: a TCP load balancer)",
)


def proxy_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The server keywords of the resolved settings: ``proxies`` (a TrustedProxies)."""
    hops = dict(_DEFAULT_HOPS)
    hops.update(parse_hop(item) for item in _items(settings["forwarded_hops"]))
    proxies = TrustedProxies(
        trusted=_items(settings["forwarded_allow_ips"]),
        forwarded=settings["forwarded_header"] == "forwarded",
        **{f"x_{name}": count for name, count in hops.items()},
    )
    return {"proxies": proxies}
