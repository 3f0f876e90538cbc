"""The syntax of proxy headers: RFC 7239 ``Forwarded``, nodes (``for=``), hosts, lists.

Pure parsing, no policy (that is :mod:`wsgikit._forwarded`): each function returns the parsed
value or raises ValueError with a short reason, never anything else::

    parse_forwarded('for="[2001:db8::1]:4711";proto=https, for=_hidden')
    # [{'for': '[2001:db8::1]:4711', 'proto': 'https'}, {'for': '_hidden'}]
    parse_node("[2001:db8::1]:4711")   # Node(address='2001:db8::1', port='4711')
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import NamedTuple

__all__ = ["Node", "parse_forwarded", "parse_host", "parse_node", "split_list"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2
# RFC 9110 §5.6.4: qdtext or a quoted-pair (HTAB, SP, VCHAR, obs-text after the backslash).
_QUOTED = re.compile(r'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*)"')
_OWS = re.compile(r"[ \t]*")
_OBFUSCATED = re.compile(r"_[A-Za-z0-9._-]+")  # RFC 7239 §6.3 obfnode, §6.2 obfport
_REG_NAME = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")  # RFC 3986 §3.2.2
_MAX_ELEMENTS = 64  # a chain longer than this is no real deployment: refuse the work


class Node(NamedTuple):
    """A forwarded node: an IP address (IPv6 without brackets), ``unknown`` or an obfuscated
    identifier (``_abc``), and the port when one was given as digits."""

    address: str
    port: str | None


def split_list(value: str) -> list[str]:
    """An ``X-Forwarded-*`` list: comma-separated, empty elements dropped (RFC 9110 §5.6.1)."""
    return [item.strip(" \t") for item in value.split(",") if item.strip(" \t")]


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """RFC 7239 §4: the elements of a ``Forwarded`` field, each a dict of lowercased
    parameter names to values (quoted strings unquoted). ValueError when malformed."""
    elements: list[dict[str, str]] = []
    pos, end = 0, len(value)
    element: dict[str, str] = {}
    while True:
        pos = _OWS.match(value, pos).end()  # type: ignore[union-attr]  # always matches
        if pos < end and value[pos] not in ",;":
            pos = _pair(value, pos, element)
            pos = _OWS.match(value, pos).end()  # type: ignore[union-attr]
        if pos >= end or value[pos] == ",":
            if element:  # an empty list element is no hop (RFC 9110 §5.6.1)
                elements.append(element)
                if len(elements) > _MAX_ELEMENTS:
                    raise ValueError(f"more than {_MAX_ELEMENTS} elements")
            element = {}
            if pos >= end:
                return elements
        elif value[pos] != ";":
            raise ValueError(f"unexpected {value[pos]!r} at {pos}")
        pos += 1


def _pair(value: str, pos: int, element: dict[str, str]) -> int:
    """Parse ``token=value`` at ``pos`` into ``element``; the position after it."""
    name = _TOKEN.match(value, pos)
    if name is None:
        raise ValueError(f"expected a parameter name at {pos}")
    pos = name.end()
    if pos >= len(value) or value[pos] != "=":
        raise ValueError(f"expected '=' after {name.group()!r}")
    pos += 1
    token = _TOKEN.match(value, pos)
    if token is not None:
        text, pos = token.group(), token.end()
    else:
        quoted = _QUOTED.match(value, pos)
        if quoted is None:
            raise ValueError(f"expected a token or a quoted string at {pos}")
        text, pos = re.sub(r"\\(.)", r"\1", quoted.group(1), flags=re.S), quoted.end()
    key = name.group().lower()
    if key in element:  # RFC 7239 §4: at most once per element
        raise ValueError(f"parameter {key!r} repeated in one element")
    element[key] = text
    return pos


@functools.lru_cache(maxsize=4096)  # clients come back; ipaddress costs microseconds a call
def parse_node(text: str) -> Node:
    """RFC 7239 §6 node (``1.2.3.4:80``, ``[2001:db8::1]:80``, ``unknown``, ``_obf``), or an
    ``X-Forwarded-For`` item (a bare IPv6 address too). ValueError when malformed."""
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise ValueError(f"unclosed '[' in {text!r}")
        ipaddress.IPv6Address(inside.partition("%")[0])  # ValueError if not one
        return Node(inside, _port(rest, text))
    if text.count(":") > 1:  # a bare IPv6 address (X-Forwarded-For has no brackets)
        ipaddress.IPv6Address(text.partition("%")[0])
        return Node(text, None)
    name, colon, port = text.partition(":")
    if name == "unknown" or _OBFUSCATED.fullmatch(name):
        return Node(name, _port(colon + port, text))
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        raise ValueError(f"not an address, 'unknown' or an obfuscated name: {text!r}") from None
    return Node(name, _port(colon + port, text))


def _port(rest: str, text: str) -> str | None:
    """The ``:port`` after a node name: digits (kept), an obfuscated port (None) or nothing."""
    if not rest:
        return None
    port = rest[1:] if rest.startswith(":") else None
    if port is not None and port.isascii() and port.isdigit() and int(port) < 65536:
        return str(int(port))
    if port is not None and _OBFUSCATED.fullmatch(port):
        return None
    raise ValueError(f"bad port in {text!r}")


def parse_host(text: str) -> tuple[str, str | None]:
    """A Host value (RFC 9110 §7.2: uri-host [":" port]) -> (name, port or None)."""
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise ValueError(f"unclosed '[' in host {text!r}")
        ipaddress.IPv6Address(inside)
        name = f"[{inside}]"
    else:
        name, colon, port = text.partition(":")
        rest = colon + port
        if not _REG_NAME.fullmatch(name) or ":" in port:
            raise ValueError(f"not a host name: {text!r}")
    if not rest or rest == ":":
        return name, None
    port = rest[1:]
    if rest[0] != ":" or not (port.isascii() and port.isdigit() and int(port) < 65536):
        raise ValueError(f"bad port in host {text!r}")
    return name, str(int(port))
