"""Dispatcher's routing-table step: mount keys and Host values normalised, the longest prefix.

Private to :mod:`wsgikit.middleware.dispatch`. A mount key is ``"/prefix"`` (any host) or
``"http[s]://host[:port]/prefix"``; both sides of a lookup go through here so that
``Example.COM:80`` on http and ``http://example.com/`` meet::

    parse_key("https://[::1]:8443/api/")   # -> ("[::1]:8443", "/api")
    host_key("EXAMPLE.com", "http")         # -> "example.com:80"
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["DEFAULT_PORTS", "host_key", "longest_prefix", "parse_host", "parse_key", "parse_path"]

#: RFC 9110 §4.2.1, §4.2.2: the port an authority without one means.
DEFAULT_PORTS = {"http": "80", "https": "443"}

_bad_char = re.compile(r"[\x00-\x1f\x7f]").search
_reg_name = re.compile(r"[a-z0-9\-._~!$&'()*+,;=%]+").fullmatch  # RFC 3986 §3.2.2 reg-name


def host_key(host: str, scheme: object, port: object = None) -> str | None:
    """``"name:port"`` of a Host value (RFC 9110 §7.2), or None when it is not one.

    Case-insensitive, a trailing root dot dropped, the default port of ``scheme`` filled in,
    IPv6 literals bracketed and in their canonical text (``[::1]``). ``port`` is used when the
    value has none (``SERVER_NAME`` + ``SERVER_PORT``, PEP 3333 URL reconstruction).
    """
    split = _split(host)
    if split is None:
        return None
    name, given = split
    if not given:
        given = str(port) if port else DEFAULT_PORTS.get(str(scheme), "80")
    if not given.isdigit() or not given.isascii() or int(given) > 65535:
        return None
    return f"{name}:{int(given)}"


def _split(host: str) -> tuple[str, str] | None:
    """(normalised name, port text or "") of ``host[:port]``; None when the name is invalid."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :]
        if end < 0 or (rest and rest[0] != ":"):
            return None
        name = _ipv6(host[1:end])
        given = rest[1:]
    elif host.count(":") > 1:  # a bare IPv6 literal, as some servers put it in SERVER_NAME
        name, given = _ipv6(host), ""
    else:
        name, _, given = host.partition(":")
        name = name.rstrip(".")  # RFC 1034 §3.1: "example.com." is the same name
        if not _reg_name(name):
            return None
    return None if name is None else (name, given)


def _ipv6(text: str) -> str | None:
    try:
        return f"[{ipaddress.IPv6Address(text).compressed}]"
    except ValueError:
        return None


def parse_path(key: str, path: str) -> str:
    """The table form of a mount path: no trailing slash, root as "", UTF-8 bytes-as-str."""
    if path in ("", "/"):
        return ""
    if not path.startswith("/"):
        raise ValueError(f"mount key {key!r}: the prefix must start with '/'")
    if "?" in path or "#" in path:
        raise ValueError(f"mount key {key!r}: a prefix has no query or fragment")
    if path.endswith("/"):
        path = path[:-1]
    if any(segment in ("", ".", "..") for segment in path.split("/")[1:]):
        raise ValueError(f"mount key {key!r}: empty, '.' or '..' path segment")
    # PEP 3333: PATH_INFO holds the request's bytes decoded as latin-1, so a text key is
    # matched by the same bytes a browser sends for it (UTF-8, RFC 3986 §2.5).
    return path.encode("utf-8").decode("latin-1")


def parse_host(host: object) -> list[str]:
    """Table keys of ``host=`` in mount(): an origin, or a bare name meaning both default ports."""
    if type(host) is not str:
        raise TypeError(f"mount host must be a str, got {host!r}")
    if "://" in host:
        names, path = _parse_origin(host)
        if path not in ("", "/"):
            raise ValueError(f"mount host {host!r}: give the path as the prefix, not in host")
        return names
    if _bad_char(host) or "/" in host or "@" in host:
        raise ValueError(f"mount host {host!r} is not a host[:port]")
    split = _split(host)
    if split is None or not host_key(host, "http"):
        raise ValueError(f"mount host {host!r} is not a host[:port]")
    name, given = split
    if given:
        return [f"{name}:{int(given)}"]
    return [f"{name}:80", f"{name}:443"]


def parse_key(key: object) -> tuple[list[str], str]:
    """Host table keys (empty for any host) and the table path of a mount key."""
    if type(key) is not str:
        raise TypeError(f"mount key must be a str, got {key!r}")
    if _bad_char(key):
        raise ValueError(f"mount key {key!r} contains control characters")
    if "://" in key:
        names, path = _parse_origin(key)
        return names, parse_path(key, path)
    return [], parse_path(key, key)


def _parse_origin(key: str) -> tuple[list[str], str]:
    try:
        parts = urlsplit(key)
        parts.port  # noqa: B018 -- raises ValueError when it is not a number in range
    except ValueError as exc:
        raise ValueError(f"mount key {key!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"mount key {key!r}: the scheme must be http or https")
    if not parts.hostname or "@" in parts.netloc:
        raise ValueError(f"mount key {key!r}: expected http[s]://host[:port]/prefix")
    if parts.query or parts.fragment or "?" in key or "#" in key:
        raise ValueError(f"mount key {key!r}: a prefix has no query or fragment")
    name = host_key(parts.netloc, scheme)
    if name is None:
        raise ValueError(f"mount key {key!r}: {parts.netloc!r} is not a valid host")
    return [name], parts.path


def longest_prefix(table: Mapping[str, object], cut: int, path: str) -> str | None:
    """The longest key of ``table`` that is ``path`` or a prefix of it ending at a "/".

    Probes the path's own prefixes, longest first: the first ends at the last "/" within
    ``cut`` (the longest key's length + 1), each next one a segment shorter. The cost grows with
    the depth of the path, never with the number of mounts.
    """
    prefix = path[:cut].rpartition("/")[0] if len(path) >= cut else path
    while prefix not in table:
        if not prefix:
            return None
        prefix = prefix.rpartition("/")[0]
    return prefix
