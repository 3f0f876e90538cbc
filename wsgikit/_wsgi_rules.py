"""The start_response() argument rules of PEP 3333, checked where a server must check them.

Used by :mod:`wsgikit.gateway` (so that a bad status or header is an error inside the app, while it
can still handle it) and available to :mod:`wsgikit.lint`::

    length, has_date, has_server = check_headers([("Content-Type", "text/plain")])
"""

from __future__ import annotations

import re
from typing import Any

from wsgikit._http11_rules import TOKEN

__all__ = ["HOP_BY_HOP", "TOKEN", "check_fields", "check_headers", "check_status", "is_token"]

#: PEP 3333 "Other HTTP Features": apps must not use hop-by-hop headers (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)

#: ``is_token(text)``: a match when the whole of ``text`` is a token, else None.
is_token = re.compile(TOKEN).fullmatch
# RFC 9110 §5.5: field values are visible chars, SP, HTAB, obs-text; no CR, LF, NUL, other CTLs.
_bad_value = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]").search
_status = re.compile(r"[1-9][0-9]{2} [^\x00-\x08\x0a-\x1f\x7f]*").fullmatch

# Names seen before and known to be fine: most apps send the same few headers on every response.
_good_names: dict[str, int] = {}
_NAME_PLAIN, _NAME_LENGTH, _NAME_DATE, _NAME_SERVER = 0, 1, 2, 3


_good_statuses: set[str] = set()


def check_status(status: Any) -> None:
    """PEP 3333: a native str "NNN Reason" (RFC 9110 §15: three digits), latin-1 only."""
    if status in _good_statuses and type(status) is str:
        return
    if type(status) is not str:
        raise TypeError(f"PEP 3333: status must be a str like '200 OK', got {status!r}")
    if _status(status) is None or (not status.isascii() and _bad_value(status)):
        raise ValueError(f"PEP 3333: status must look like '200 OK', got {status!r}")
    if len(_good_statuses) < 256:  # apps use a handful; bounded against generated reasons
        _good_statuses.add(status)


def _classify(name: Any) -> int:
    """The kind of a header name not seen before (or not cacheable); raises for a bad name."""
    if type(name) is not str:
        raise TypeError(f"PEP 3333: header names must be str, got {name!r}")
    if is_token(name) is None:
        raise ValueError(f"RFC 9110 §5.1: header name {name!r} is not a token")
    lower = name.lower()
    if lower in HOP_BY_HOP:
        raise ValueError(f"PEP 3333: hop-by-hop header {name!r} is the server's business")
    kind = {"content-length": _NAME_LENGTH, "date": _NAME_DATE, "server": _NAME_SERVER}.get(
        lower, _NAME_PLAIN
    )
    if len(_good_names) < 1024:
        _good_names[name] = kind
    return kind


# (name, value) fields checked before, with what the engine needs of them: their kind, the
# Content-Length as an int (else 0), and the field line as sent. Apps send the same few fields on
# most responses; bounded, since values (cookies, ETags, lengths) are the app's to vary.
_good_fields: dict[tuple[str, str], tuple[int, int, bytes]] = {}


def check_headers(headers: Any) -> tuple[int | None, bool, bool]:
    """Check the response headers; return (Content-Length or None, has Date, has Server).

    Raises TypeError for wrong types and ValueError for bad names/values, naming the rule.
    """
    length, has_date, has_server, _ = check_fields(headers)
    return length, has_date, has_server


def check_fields(headers: Any) -> tuple[int | None, bool, bool, bytes]:
    """:func:`check_headers`, and the field lines as they go out: latin-1, each ending in CRLF
    (PEP 3333 "Unicode Issues", RFC 9112 §5), joined."""
    if type(headers) is not list:
        raise TypeError(f"PEP 3333: response_headers must be a list, got {type(headers).__name__}")
    length: int | None = None
    has_date = has_server = False
    good = _good_fields
    lines: list[bytes] = []
    for item in headers:
        try:
            known = good.get(item) if type(item) is tuple else None
        except TypeError:  # unhashable: a list inside; _check_field says what is wrong
            known = None
        if known is None:
            known = _check_field(item)
        kind, number, line = known
        lines.append(line)
        if not kind:  # _NAME_PLAIN: most headers
            continue
        if kind == _NAME_LENGTH:
            if length is not None:
                raise ValueError(
                    f"RFC 9110 §8.6: Content-Length must be one run of digits, got {item[1]!r}"
                )
            length = number
        elif kind == _NAME_DATE:
            has_date = True
        else:
            has_server = True
    return length, has_date, has_server, b"".join(lines)


def _check_field(item: Any) -> tuple[int, int, bytes]:
    """Check one (name, value) field not seen before; what :data:`_good_fields` keeps of it."""
    if type(item) is not tuple or len(item) != 2:
        raise TypeError(f"PEP 3333: each header must be a (name, value) tuple, got {item!r}")
    name, value = item
    kind = _good_names.get(name)
    if kind is None:
        kind = _classify(name)
    if type(value) is not str:
        raise TypeError(f"PEP 3333: value of header {name!r} must be str, got {value!r}")
    # Fast path: printable ASCII is always fine; anything else gets the full check.
    if not (value.isascii() and value.isprintable()) and _bad_value(value):
        raise ValueError(
            f"RFC 9110 §5.5: value of header {name!r} has a control or non-latin-1 "
            f"character: {value!r}"
        )
    number = 0
    if kind == _NAME_LENGTH:
        if not (value.isdigit() and value.isascii()):
            raise ValueError(
                f"RFC 9110 §8.6: Content-Length must be one run of digits, got {value!r}"
            )
        number = int(value)
    known = (kind, number, f"{name}: {value}\r\n".encode("latin-1"))
    if len(_good_fields) < 4096:
        _good_fields[item] = known
    return known
