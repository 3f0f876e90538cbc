"""Bind specs, parsed without a socket: ``HOST:PORT``, ``[IPv6]:PORT``, ``unix:/path``, ``fd://N``.

The CLI validates ``--bind`` with this; :mod:`wsgikit.servers._listen` opens what it describes::

    parse_bind("[::1]:8080")   # Bind(kind="tcp", host="::1", port=8080, ...)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Bind", "BindError", "parse_bind"]

_EXPECTED = "expected HOST:PORT, [IPv6]:PORT, unix:/path or fd://N, with a port from 0 to 65535"


class BindError(ValueError):
    """A bind spec that cannot be parsed (the message is why) or bound (it names the spec)."""


@dataclass(frozen=True, slots=True)
class Bind:
    kind: str  # "tcp", "unix" or "fd"
    host: str = ""
    port: int = 0
    path: str = ""
    fd: int = -1
    spec: str = ""


def parse_bind(spec: str) -> Bind:
    """Parse one bind spec; BindError says what is wrong (callers name where it came from)."""
    text = spec.strip()
    if text.startswith("unix:"):
        if not text[5:]:
            raise BindError("unix: needs a path")
        return Bind("unix", path=text[5:], spec=spec)
    if text.startswith("fd://"):
        if not (text[5:].isascii() and text[5:].isdigit()):
            raise BindError("fd:// needs a file descriptor number")
        return Bind("fd", fd=int(text[5:]), spec=spec)
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not host:
            raise BindError(_EXPECTED)
    elif ":" in host:
        raise BindError("write IPv6 addresses in brackets, as [::1]:8000")
    if not sep or not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise BindError(_EXPECTED)
    return Bind("tcp", host=host, port=int(port), spec=spec)
