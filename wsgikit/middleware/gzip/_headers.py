"""GzipMiddleware's header step: from the app's status and headers, whether to code, and how.

Private to :mod:`wsgikit.middleware.gzip`. ``plan`` reads the app's status and headers once and
returns the decision and the headers to send (Vary merged, ETag weakened, Content-Encoding set);
it never mutates its input::

    compress, headers, declared_length, flush_each = plan(middleware, "200 OK", headers, codec)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsgikit.middleware.gzip._compressors import Codec

if TYPE_CHECKING:
    from wsgikit.middleware.gzip.middleware import GzipMiddleware

__all__ = ["Headers", "Plan", "plan"]

Headers = list[tuple[str, str]]
Plan = tuple[bool, Headers, int | None, bool]


def plan(mw: GzipMiddleware, status: str, headers: Headers, codec: Codec | None) -> Plan:
    """(compress?, headers to send, Content-Length the app declared, flush after each chunk?)."""
    keep: Plan = (False, headers, None, False)
    code = status[:3]
    # RFC 9110 §15.2, §15.3.5: no content to code; §15.3.7: a 206 is a byte range of the
    # identity representation, which a coding would make meaningless.
    if code[0] == "1" or code in ("204", "206"):
        return keep
    content_type = length = None
    for name, value in headers:
        lower = name.lower()
        if lower == "content-type":
            content_type = value
        elif lower == "content-length":
            length = value
        elif lower in ("content-encoding", "content-range"):
            return keep  # already coded (RFC 9110 §8.4), or a range
        elif lower == "cache-control" and _no_transform(value):
            return keep  # RFC 9111 §5.2.2.6: intermediaries and filters must not change the content
    if content_type is None or not mw.compressible(content_type):
        return keep
    declared = int(length) if length is not None and length.isascii() and length.isdigit() else None
    if declared is not None and declared < mw.min_size:
        return keep
    if code == "304":
        # RFC 9110 §15.4.5: a 304 carries the Vary and ETag that its 200 would have had.
        return False, _rewrite(headers, None, weaken=codec is not None), None, False
    if codec is None:
        return False, _rewrite(headers, None, weaken=False), None, False
    media = content_type.partition(";")[0].strip().lower()
    return True, _rewrite(headers, codec.name, weaken=True), declared, media == "text/event-stream"


def _no_transform(value: str) -> bool:
    return "no-transform" in [part.partition("=")[0].strip().lower() for part in value.split(",")]


def _rewrite(headers: Headers, coding: str | None, *, weaken: bool) -> Headers:
    """Merge Accept-Encoding into Vary (RFC 9110 §12.5.5) and, when coding, set Content-Encoding."""
    out: Headers = []
    vary_at = -1
    varies = False
    for name, value in headers:
        lower = name.lower()
        if lower == "vary":
            tokens = [token.strip().lower() for token in value.split(",")]
            if "*" in tokens or "accept-encoding" in tokens:
                varies = True
            elif vary_at < 0:
                vary_at = len(out)
        elif coding is not None and lower in ("content-length", "accept-ranges"):
            continue  # both describe the identity bytes; the length is set again when known
        elif weaken and lower == "etag" and not value.startswith("W/"):
            out.append((name, "W/" + value))  # RFC 9110 §8.8.3: other bytes, not strongly equal
            continue
        out.append((name, value))
    if not varies:
        if vary_at >= 0:
            name, value = out[vary_at]
            out[vary_at] = (
                name,
                f"{value}, Accept-Encoding" if value.strip() else "Accept-Encoding",
            )
        else:
            out.append(("Vary", "Accept-Encoding"))
    if coding is not None:
        out.append(("Content-Encoding", coding))
    return out
