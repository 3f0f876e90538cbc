"""Compress responses (gzip, and br / zstd with the extras) for clients that accept it.

Use it around apps that send text, JSON, JS, XML or SVG to clients over slow links. The coding is
chosen by the q-values of Accept-Encoding (RFC 9110 §12.5.3); responses whose coding could vary
get ``Vary: Accept-Encoding`` whether compressed or not. gzip's ``level`` means zlib's: each level
uses the fastest deflate installed whose output stays within 2% of zlib's (python-isal at level 1,
zlib-ng above, else zlib; see :mod:`wsgikit.middleware.gzip._compressors`)::

    from wsgikit.middleware.gzip import GzipMiddleware

    app = GzipMiddleware(app, min_size=500, level=6, encodings=("br", "gzip"))
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from wsgikit._wsgi_rules import TOKEN
from wsgikit.middleware._close import close_iterable
from wsgikit.middleware._options import app_option, size_option
from wsgikit.middleware._webob import preferred_codings
from wsgikit.middleware.gzip._compressors import Codec, make_codec
from wsgikit.middleware.gzip._exchange import Exchange
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["DEFAULT_MIME_TYPES", "GzipMiddleware"]

#: Types worth compressing: text and the text-based formats, not images/archives already packed.
DEFAULT_MIME_TYPES: tuple[str, ...] = (
    "text/*",
    "application/json",
    "application/*+json",
    "application/x-ndjson",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/xml",
    "application/*+xml",
    "image/svg+xml",
    "application/wasm",
    "font/ttf",
    "font/otf",
    "application/vnd.ms-fontobject",
    "image/x-icon",
    "image/vnd.microsoft.icon",
    "image/bmp",
)
# RFC 9110 §8.3.1: type "/" subtype, each a token; "*" and "*+suffix" are our wildcards.
_PATTERN = re.compile(rf"(?:\*/\*|{TOKEN}/(?:\*|\*\+{TOKEN}|{TOKEN}))").fullmatch
_CACHE_SIZE = 256  # distinct Accept-Encoding / Content-Type values remembered per instance


class GzipMiddleware:
    """Compress responses with the best coding the client accepts.

    Options (keyword-only; bad values raise ValueError/TypeError naming the option):
    ``min_size`` bytes below which a response of known size is sent as is; ``level`` 1..9 as in
    zlib (gzip within 2% of zlib's size; br and zstd mapped onto their own scales);
    ``mime_types`` patterns (``text/*``, ``application/*+json``, ``*/*``); ``encodings`` in
    order of preference ("gzip", "br", "zstd");
    ``max_buffer``: a list/tuple body up to this many bytes is compressed whole and sent with a
    Content-Length, anything else streams chunk by chunk; ``gzip_backend`` forces "isal",
    "zlib-ng" or "zlib" (isal above level 1 is faster but up to 38% larger than zlib).

    Left alone: 1xx/204/206 responses, Range requests (Vary still added), responses with
    Content-Encoding or ``Cache-Control: no-transform``, types not listed, bodies smaller than
    ``min_size``. A 304 with a listed Content-Type gets the Vary and weak ETag of its 200. HEAD
    gets GET's headers (Content-Length too when the app gave the whole body) and no body. A PEP
    3333 violation by the app (iterating before start_response, a second start_response without
    exc_info) raises RuntimeError.
    """

    __slots__ = (
        "_accept_cache",
        "_codecs",
        "_offers",
        "_patterns",
        "_type_cache",
        "app",
        "encodings",
        "level",
        "max_buffer",
        "mime_types",
        "min_size",
    )

    def __init__(
        self,
        app: WSGIApplication,
        *,
        min_size: int = 500,
        level: int = 6,
        mime_types: Iterable[str] = DEFAULT_MIME_TYPES,
        encodings: Iterable[str] = ("gzip",),
        max_buffer: int = 1024 * 1024,
        gzip_backend: str | None = None,
    ) -> None:
        self.app = app_option("GzipMiddleware", app)
        self.min_size = size_option("GzipMiddleware", "min_size", min_size)
        self.max_buffer = size_option("GzipMiddleware", "max_buffer", max_buffer)
        if type(level) is not int:
            raise TypeError(f"GzipMiddleware: level must be an int, got {level!r}")
        self.level = level  # its range (1..9) is checked by make_codec
        self.mime_types = _strings("mime_types", mime_types)
        for pattern in self.mime_types:
            if _PATTERN(pattern.lower()) is None:
                raise ValueError(f"GzipMiddleware: mime_types: {pattern!r} is not type/subtype")
        self._patterns = frozenset(p.lower() for p in self.mime_types)
        self.encodings = _strings("encodings", encodings)
        if not self.encodings or len(set(self.encodings)) != len(self.encodings):
            raise ValueError(f"GzipMiddleware: encodings must be distinct names, got {encodings!r}")
        self._codecs: dict[str, Codec] = {
            name: make_codec(name, level, gzip_backend) for name in self.encodings
        }
        # identity last: on equal q-values the server's preference for compression wins.
        self._offers = [*self.encodings, "identity"]
        self._accept_cache: dict[str, Codec | None] = {}
        self._type_cache: dict[str, bool] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        accept = environ.get("HTTP_ACCEPT_ENCODING")
        codec = None if accept is None else self.negotiate(accept)
        exchange = Exchange(self, environ, start_response, codec)
        result = self.app(environ, exchange.start_response)
        try:
            return exchange.body(result)
        except BaseException:
            close_iterable(result)
            raise

    def negotiate(self, accept_encoding: str) -> Codec | None:
        """The codec for an Accept-Encoding value, or None for identity (no compression)."""
        try:
            return self._accept_cache[accept_encoding]
        except KeyError:
            pass
        codec = self._choose(accept_encoding)
        if len(self._accept_cache) < _CACHE_SIZE:  # bounded: the values come from clients
            self._accept_cache[accept_encoding] = codec
        return codec

    def _choose(self, accept_encoding: str) -> Codec | None:
        codings = preferred_codings(accept_encoding, self._offers)
        # Nothing acceptable (e.g. "identity;q=0"): identity beats a 406 from here.
        return self._codecs.get(codings[0]) if codings else None

    def compressible(self, content_type: str) -> bool:
        """Whether a Content-Type value matches ``mime_types``."""
        known = self._type_cache.get(content_type)
        if known is None:
            known = self._match(content_type.partition(";")[0].strip().lower())
            if len(self._type_cache) < _CACHE_SIZE:
                self._type_cache[content_type] = known
        return known

    def _match(self, media: str) -> bool:
        kind, _, sub = media.partition("/")
        patterns = self._patterns
        if media in patterns or f"{kind}/*" in patterns or "*/*" in patterns:
            return True
        _, plus, suffix = sub.rpartition("+")
        return bool(plus) and f"{kind}/*+{suffix}" in patterns


def _strings(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"GzipMiddleware: {name} must be a list/tuple of str, got {value!r}")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"GzipMiddleware: {name} items must be str, got {item!r}")
    return items
