"""Mount several WSGI apps under URL prefixes (and hosts) of one server.

Use it to serve, say, a Flask site at ``/`` and an admin app at ``/admin`` from one process. The
longest mounted prefix wins, on whole path segments; the app sees its prefix in SCRIPT_NAME and the
rest in PATH_INFO (PEP 3333 URL reconstruction), so its own URL building includes the prefix::

    from wsgikit.middleware.dispatch import Dispatcher

    app = Dispatcher({"/": site, "/admin": admin, "https://api.example.com/v1": api})
    app.mount("/metrics", metrics_app)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from wsgikit.middleware._head_response import call_head
from wsgikit.middleware.dispatch._mounts import host_key, longest_prefix, parse_host, parse_key
from wsgikit.middleware.dispatch._replies import add_slash, no_mount
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Dispatcher"]

_Table = dict[str, WSGIApplication]


class Dispatcher:
    """A WSGI app that routes each request to the app mounted at the longest matching prefix.

    ``mounts`` maps ``"/prefix"`` (any host) or ``"http[s]://host[:port]/prefix"`` to apps; "/"
    (or "") is the root mount. Keys are decoded paths; non-ASCII ones match their UTF-8 bytes.
    A host's own mounts are searched before the any-host ones; Host is compared without case,
    the scheme's default port filled in: a key names an origin, so ``http://example.com/``
    matches ``example.com`` and ``example.com:80`` on http, not https requests on port 443.

    A request for exactly ``/prefix`` is redirected to ``/prefix/`` (query kept) when
    ``redirect_slash`` is true: 301 for GET/HEAD, 308 otherwise so a POST keeps its method and
    body (RFC 9110 §15.4.9); else the app gets an empty PATH_INFO. Requests that match nothing
    go to ``not_found``, or get a plain-text 404. Like werkzeug's and paste's dispatchers it
    updates the environ in place (SCRIPT_NAME, PATH_INFO): a wrapper that needs the original
    path after the call should read it before. Bad keys raise ValueError (TypeError for a
    non-str key or a non-callable app).
    """

    __slots__ = (
        "_any",
        "_any_cut",
        "_fast",
        "_host_cache",
        "_hosts",
        "not_found",
        "redirect_slash",
    )

    def __init__(
        self,
        mounts: Mapping[str, WSGIApplication],
        *,
        not_found: WSGIApplication | None = None,
        redirect_slash: bool = True,
    ) -> None:
        if not isinstance(mounts, Mapping):
            raise TypeError(f"Dispatcher: mounts must be a dict of prefix -> app, got {mounts!r}")
        if not_found is not None and not callable(not_found):
            raise TypeError(f"Dispatcher: not_found must be a WSGI app or None, got {not_found!r}")
        if type(redirect_slash) is not bool:
            raise TypeError(f"Dispatcher: redirect_slash must be a bool, got {redirect_slash!r}")
        self.not_found = not_found
        self.redirect_slash = redirect_slash
        self._any: _Table = {}
        self._any_cut = 1  # the longest key's length + 1: where the first probe cuts the path
        # (table, longest key length) while no mount names a host: one attribute for __call__.
        self._fast: tuple[_Table, int] | None = (self._any, 0)
        self._hosts: dict[str, tuple[_Table, int]] = {}
        # Host header -> table key; Host values repeat, and parsing them is the slow part.
        self._host_cache: dict[tuple[str, str], str | None] = {}
        seen: dict[tuple[str, str], str] = {}
        for key, app in mounts.items():
            hosts, path = parse_key(key)
            for place in [(host, path) for host in hosts] or [("", path)]:
                if place in seen:
                    raise ValueError(
                        f"Dispatcher: mount keys {seen[place]!r} and {key!r} name the same place"
                    )
                seen[place] = key
            self._add(key, hosts, path, app)

    def mount(self, prefix: str, app: WSGIApplication, host: str | None = None) -> None:
        """Mount ``app`` at ``prefix`` (replacing what was there), for ``host`` only if given.

        ``host`` is ``"name[:port]"`` (no port: both 80 and 443) or ``"http[s]://name[:port]"``;
        ``prefix`` may also be a full ``http[s]://host/prefix`` key, as in the constructor.
        """
        hosts, path = parse_key(prefix)
        if host is not None:
            if hosts:
                raise ValueError(f"Dispatcher.mount: {prefix!r} already names a host; drop host=")
            hosts = parse_host(host)
        self._add(prefix, hosts, path, app)

    def _add(self, key: str, hosts: list[str], path: str, app: WSGIApplication) -> None:
        if not callable(app):
            raise TypeError(f"Dispatcher: the app mounted at {key!r} is not callable: {app!r}")
        if not hosts:
            self._any[path] = app
            self._any_cut = max(self._any_cut, len(path) + 1)
        for host in hosts:
            table, cut = self._hosts.get(host, ({}, 1))
            table[path] = app
            self._hosts[host] = (table, max(cut, len(path) + 1))
        self._fast = None if self._hosts else (self._any, self._any_cut - 1)
        self._host_cache.clear()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            path: str = environ["PATH_INFO"]
        except KeyError:  # PEP 3333: may be left out when empty
            path = ""
        app: WSGIApplication | None
        fast = self._fast
        if fast is None:
            table, found = self._lookup_by_host(environ, path)
            if found is None:
                return self._not_found(environ, start_response)
            prefix = found
            app = table[prefix]
        else:
            # longest_prefix() inlined over the any-host table: this is the per-request hot path.
            table, longest = fast
            if len(path) <= longest:
                prefix = path
            elif path[longest] == "/":  # a segment ends right at the longest key's length
                prefix = path[:longest]
            else:
                prefix = path[: longest + 1].rpartition("/")[0]
            while (app := table.get(prefix)) is None:
                if not prefix:
                    return self._not_found(environ, start_response)
                prefix = prefix.rpartition("/")[0]
        rest = path[len(prefix) :]  # kept exactly as sent: "//" is not collapsed
        if not rest and prefix and self.redirect_slash:
            return add_slash(environ, start_response, prefix)
        # PEP 3333 URL reconstruction: SCRIPT_NAME + PATH_INFO stays the same URL.
        try:
            environ["SCRIPT_NAME"] += prefix
        except KeyError:  # PEP 3333: may be left out when empty
            environ["SCRIPT_NAME"] = prefix
        environ["PATH_INFO"] = rest
        if environ["REQUEST_METHOD"] == "HEAD":  # PEP 3333: always present
            return call_head(app, environ, start_response)  # RFC 9110 §9.3.2
        return app(environ, start_response)

    def _lookup_by_host(self, environ: WSGIEnvironment, path: str) -> tuple[_Table, str | None]:
        """The request host's own mounts first, then the any-host ones."""
        host = self._request_host(environ)
        entry = self._hosts.get(host) if host is not None else None
        if entry is not None:
            prefix = longest_prefix(entry[0], entry[1], path)
            if prefix is not None:
                return entry[0], prefix
        return self._any, longest_prefix(self._any, self._any_cut, path)

    def _request_host(self, environ: WSGIEnvironment) -> str | None:
        """Table key of the request's host: HTTP_HOST, else SERVER_NAME and SERVER_PORT."""
        scheme = environ.get("wsgi.url_scheme", "http")
        raw = environ.get("HTTP_HOST")
        port = None
        if not raw:
            raw = environ.get("SERVER_NAME", "")
            port = environ.get("SERVER_PORT")
        cache_key = (raw, f"{scheme}:{port}")
        cache = self._host_cache
        if cache_key in cache:
            return cache[cache_key]
        key = host_key(raw, scheme, port)
        if len(cache) >= 256:  # bounded: clients choose the Host header
            cache.clear()
        cache[cache_key] = key
        return key

    def _not_found(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if self.not_found is None:
            return no_mount(environ, start_response)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return call_head(self.not_found, environ, start_response)  # RFC 9110 §9.3.2
        return self.not_found(environ, start_response)
