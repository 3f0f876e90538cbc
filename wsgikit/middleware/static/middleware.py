"""Serve static files from one or more directories; everything else goes to the app.

Use it when the app ships its CSS, JS, images and fonts itself (no nginx in front, or a CDN
that pulls from the app): files are sent with validators and caching headers, ranges,
precompressed ``.br``/``.zst``/``.gz`` siblings (``wsgikit compress DIR`` writes them), content-
hashed URLs that caches may keep for a year, and ``wsgi.file_wrapper`` (sendfile on wsgikit's
server). A path that names no file here is the app's, whatever the method::

    from wsgikit.middleware import StaticFiles

    app = StaticFiles(app, {"/static/": "/srv/app/static", "/media/": "/srv/app/media"})
    app.static_url("/static/css/site.css")  # "/static/css/site.5d41402abc4b.css"
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from wsgikit.middleware._options import app_option, size_option
from wsgikit.middleware._webob import preferred_codings
from wsgikit.middleware.static._checks import (
    content_types_option,
    encodings_option,
    flag_option,
    index_option,
    mounts_option,
    seconds_option,
)
from wsgikit.middleware.static._entry import IMMUTABLE, Entry, Variant
from wsgikit.middleware.static._files import Files, Found, Options, hashed_name
from wsgikit.middleware.static._respond import Reply
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["StaticFiles"]

_NAME = "StaticFiles"
_TEXT = ("Content-Type", "text/plain; charset=utf-8")
_CACHE_SIZE = 256  # distinct Accept-Encoding values remembered (they come from clients)
log = logging.getLogger("wsgikit.static")
Directories = Mapping[str, "str | os.PathLike[str] | Iterable[str | os.PathLike[str]]"]


class StaticFiles:
    """Serve the files of ``directories`` (``{"/prefix/": dir or [dirs, searched in order]}``).

    Options (keyword-only; bad values raise TypeError/ValueError naming the option):
    ``max_age`` seconds for ``Cache-Control: public, max-age=N`` on plain URLs (hashed URLs
    from :meth:`static_url` get ``max-age=31536000, immutable``); ``index`` a file name served
    for a directory's URL (``index.html``; a directory asked without its slash is redirected to
    it), or None: directories are not files; ``follow_symlinks`` serve symlinks that lead out of
    the directory; ``allow_dotfiles`` serve names starting with "." (``.well-known``);
    ``encodings`` precompressed siblings looked for, in order of preference; ``content_types``
    extra ``{".ext": "type/subtype"}``; ``memory_cache`` bytes of small files (up to 64 KiB
    each) kept in memory; ``recheck`` seconds a file's stat is trusted before it is checked
    against the disk again (0: every request).

    Files are looked up when first asked for (no scan at startup). GET and HEAD are served;
    another method on a file gets 405 with ``Allow``. A path outside the directories, not a
    file, hidden, or refused (``..``, NUL, backslash, a symlink out of the root) goes to the
    app unchanged.
    """

    __slots__ = ("_accept_cache", "_files", "app", "cache_control", "encodings")

    def __init__(
        self,
        app: WSGIApplication,
        directories: Directories,
        *,
        max_age: int = 60,
        index: str | None = None,
        follow_symlinks: bool = False,
        allow_dotfiles: bool = False,
        encodings: Iterable[str] = ("br", "zstd", "gzip"),
        content_types: Mapping[str, str] | None = None,
        memory_cache: int = 16 << 20,
        recheck: float = 1.0,
    ) -> None:
        self.app = app_option(_NAME, app)
        self.cache_control = f"public, max-age={size_option(_NAME, 'max_age', max_age)}"
        self.encodings = encodings_option(encodings)
        options = Options(
            index=index_option(index),
            follow_symlinks=flag_option("follow_symlinks", follow_symlinks),
            allow_dotfiles=flag_option("allow_dotfiles", allow_dotfiles),
            encodings=self.encodings,
            content_types=content_types_option(content_types),
            memory_cache=size_option(_NAME, "memory_cache", memory_cache),
            recheck=seconds_option("recheck", recheck),
        )
        self._files = Files(mounts_option(directories), options)
        self._accept_cache: dict[str, tuple[str, ...]] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        found = self._files.find(path)
        if found is None:
            return self.app(environ, start_response)
        if isinstance(found, str):
            return _redirect(environ, start_response, found)
        method = environ.get("REQUEST_METHOD")
        if method not in {"GET", "HEAD"}:
            return _not_allowed(start_response)
        result = self._serve(environ, start_response, found)
        if result is None:  # the file changed on disk since it was looked up: look again
            self._files.forget(path)
            again = self._files.find(path)
            if isinstance(again, Found):
                result = self._serve(environ, start_response, again)
            if result is None:
                return self.app(environ, start_response)
        return result

    def static_url(self, path: str, environ: WSGIEnvironment | None = None) -> str:
        """The content-hashed URL of the file at URL ``path`` (``/static/app.css`` ->
        ``/static/app.<12 hex digits>.css``), percent-encoded; with ``environ``, under its
        SCRIPT_NAME. A path that names no file is returned as is (and logged).

        The hash is computed when first asked for and again only when the file changed, so
        the URL changes exactly when the content does and may be cached for a year.
        """
        base = quote(environ.get("SCRIPT_NAME", "").encode("latin-1")) if environ else ""
        found = self._files.find(path.encode("utf-8").decode("latin-1"))
        if not isinstance(found, Found):
            log.warning("static_url: %r names no file under %s's directories", path, _NAME)
            return base + quote(path)
        head, _, name = path.rpartition("/")
        return base + quote(f"{head}/{hashed_name(name, self._files.digest(found.entry))}")

    def _serve(
        self, environ: WSGIEnvironment, start_response: StartResponse, found: Found
    ) -> Iterable[bytes] | None:
        entry = found.entry
        variant = entry.identity
        if entry.coded and "HTTP_RANGE" not in environ:  # a range is of the file itself
            variant = self._negotiate(environ.get("HTTP_ACCEPT_ENCODING"), entry)
        cache_control = IMMUTABLE if found.immutable else self.cache_control
        return Reply(environ, start_response, self._files, cache_control).respond(entry, variant)

    def _negotiate(self, accept: str | None, entry: Entry) -> Variant:
        """The representation the client prefers among those on disk (RFC 9110 §12.5.3)."""
        if accept is None:
            return entry.identity
        order = self._accept_cache.get(accept)
        if order is None:
            order = self._order(accept)
            if len(self._accept_cache) < _CACHE_SIZE:
                self._accept_cache[accept] = order
        for coding in order:
            variant = entry.coded.get(coding)
            if variant is not None:
                return variant
            if coding == "identity":
                break
        return entry.identity

    def _order(self, accept: str) -> tuple[str, ...]:
        return preferred_codings(accept, [*self.encodings, "identity"])


def _redirect(environ: WSGIEnvironment, start_response: StartResponse, target: str) -> list[bytes]:
    location = quote(environ.get("SCRIPT_NAME", "").encode("latin-1")) + target
    if environ.get("QUERY_STRING"):
        location += "?" + environ["QUERY_STRING"]
    body = b"Moved Permanently\n"
    headers = [_TEXT, ("Content-Length", str(len(body))), ("Location", location)]
    start_response("301 Moved Permanently", headers)
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _not_allowed(start_response: StartResponse) -> list[bytes]:
    body = b"Method Not Allowed\n"
    headers = [_TEXT, ("Content-Length", str(len(body))), ("Allow", "GET, HEAD")]
    start_response("405 Method Not Allowed", headers)  # RFC 9110 §15.5.6: with Allow
    return [body]
