"""WebOb, imported once and quietly, and the content-coding choice two middleware share.

WebOb 1.8 imports the stdlib ``cgi`` module, deprecated by PEP 594 (Python 3.11): the warning is
about WebOb's import, not about anything wsgikit does, so it is silenced here, for every user.
GzipMiddleware and StaticFiles choose a content coding the same way (RFC 9110 §12.5.3)::

    preferred_codings("gzip;q=0.5, br", ["br", "gzip", "identity"])   # ("br", "gzip")
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    # WebOb ships no type hints ("unused-ignore" keeps this quiet if stubs get installed).
    from webob.acceptparse import (  # type: ignore[import-untyped, unused-ignore]
        AcceptEncodingValidHeader,
        create_accept_encoding_header,
        create_accept_header,
    )
    from webob.cookies import Morsel, parse_cookie  # type: ignore[import-untyped, unused-ignore]

__all__ = ["Morsel", "create_accept_header", "parse_cookie", "preferred_codings"]


def preferred_codings(accept_encoding: str, offers: Sequence[str]) -> tuple[str, ...]:
    """The ``offers`` an ``Accept-Encoding`` value accepts, best first.

    An invalid field gives () (RFC 9110 §12.5.3: it may be ignored; identity is safe). An
    ``identity`` the client did not name (nor ``*``) is a fallback, not an equal, and is left
    out: "gzip;q=0.5" wants gzip.
    """
    header = create_accept_encoding_header(accept_encoding)
    if not isinstance(header, AcceptEncodingValidHeader):
        return ()
    named = any(coding in ("identity", "*") for coding, _q in header.parsed)
    offered = header.acceptable_offers(list(offers))
    return tuple(offer for offer, _q in offered if offer != "identity" or named)
