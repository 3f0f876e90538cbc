"""StaticFiles' conditional step: If-Match, If-None-Match, If-(Un)Modified-Since and If-Range.

Private to :mod:`wsgikit.middleware.static`. ``precondition`` evaluates a GET or HEAD's
preconditions in the order of RFC 9110 §13.2.2 and answers 412, 304 or None (serve it);
``if_range`` says whether a Range may be honoured (RFC 9110 §13.1.5). A malformed field never
fails a request: an unparsable date is ignored (§13.1.3, §13.1.4) and an unparsable list of
entity tags matches nothing::

    status = precondition(environ, variant.etag, variant.mtime)  # 304, 412 or None
"""

from __future__ import annotations

import re
from datetime import UTC
from email.utils import parsedate_to_datetime

from wsgikit.types import WSGIEnvironment

__all__ = ["if_range", "precondition"]

# RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, in a comma-separated list (§5.6.1).
_TAG = re.compile(r'[ \t]*(W/)?("[\x21\x23-\x7e\x80-\xff]*")[ \t]*(?:,|$)')
_MAX_TAGS = 64  # a longer list is refused (matches nothing): its parsing costs the server


def precondition(environ: WSGIEnvironment, etag: str, mtime: int) -> int | None:
    """412 or 304 when a precondition says so, else None (RFC 9110 §13.2.2, GET and HEAD)."""
    if_match = environ.get("HTTP_IF_MATCH")
    if if_match is not None:
        if not _matches(if_match, etag, weak=False):
            return 412  # §13.1.1: strong comparison
    else:
        since = _date(environ.get("HTTP_IF_UNMODIFIED_SINCE"))
        if since is not None and mtime > since:
            return 412  # §13.1.4
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        # §13.1.2: weak comparison; it takes precedence over If-Modified-Since.
        return 304 if _matches(if_none_match, etag, weak=True) else None
    since = _date(environ.get("HTTP_IF_MODIFIED_SINCE"))
    if since is not None and mtime <= since:
        return 304  # §13.1.3
    return None


def if_range(value: str, etag: str, mtime: int) -> bool:
    """Whether the representation is the one If-Range names (RFC 9110 §13.1.5).

    An entity tag must match strongly (a weak one never does); a date must equal Last-Modified
    exactly. Anything else (malformed) fails, so the whole representation is sent: never a
    mixture of two versions.
    """
    text = value.strip()
    if text.startswith('"'):
        return text == etag
    if text.startswith("W/"):
        return False
    date = _date(text)
    return date is not None and date == mtime


def _matches(value: str, etag: str, *, weak: bool) -> bool:
    """Whether an If-Match / If-None-Match list matches ``etag`` (our tags are all strong)."""
    if value.strip() == "*":
        return True  # §13.1.1, §13.1.2: any current representation
    at, end, count = 0, len(value), 0
    while at < end:
        match = _TAG.match(value, at)
        if match is None or match.end() == at or count >= _MAX_TAGS:
            return False  # malformed (or absurdly long): no match
        if match.group(2) == etag and (weak or match.group(1) is None):
            return True
        at, count = match.end(), count + 1
    return False


def _date(value: str | None) -> int | None:
    """An HTTP-date (RFC 9110 §5.6.7, the three formats) in seconds since the epoch, or None."""
    if value is None or len(value) > 64:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # asctime has no zone: it is GMT (§5.6.7)
    try:
        return int(moment.timestamp())
    except (OverflowError, OSError, ValueError):
        return None
