"""What the gateways that receive CGI variables share (FastCGI, SCGI and AJP).

The environ of a request a web server sent as CGI meta-variables, made right for PEP 3333
(SCRIPT_NAME and PATH_INFO at the mount point, SERVER_NAME when the web server sent none), the
mount-point option, and ``wsgi.errors`` into the ``wsgikit.error`` log::

    environ = cgi_environ(params, info, InputStream(body, length), script_name="/app")
    environ["wsgi.errors"] = LOG_ERRORS
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import unquote_to_bytes

from wsgikit._forwarded import TrustedProxies
from wsgikit.gateway import ConnectionInfo, InputStream, environ_from_cgi
from wsgikit.types import WSGIEnvironment

__all__ = ["LOG_ERRORS", "LogErrors", "cgi_environ", "check_script_name", "mount_paths"]

error_log = logging.getLogger("wsgikit.error")


def mount_paths(environ: WSGIEnvironment, script_name: str | None, split: bool) -> None:
    """Set SCRIPT_NAME and PATH_INFO for an app mounted at ``script_name`` (PEP 3333, RFC 3875).

    ``split``: the web server sent PATH_INFO, so its SCRIPT_NAME/PATH_INFO split is kept when
    ``script_name`` is None. Otherwise the full path (SCRIPT_NAME + PATH_INFO when PATH_INFO was
    sent, else REQUEST_URI's path percent-decoded, else SCRIPT_NAME) is split at the mount point;
    a path outside it gets SCRIPT_NAME "" and the whole path as PATH_INFO.
    """
    script = environ.get("SCRIPT_NAME", "")
    if script_name is None and split:
        if script.endswith("/"):  # PEP 3333: SCRIPT_NAME never ends with "/" ("/" is "")
            path_info = environ.get("PATH_INFO", "")
            environ["SCRIPT_NAME"] = script.rstrip("/")
            environ["PATH_INFO"] = path_info if path_info.startswith("/") else "/" + path_info
        return
    if split:
        full = script + environ.get("PATH_INFO", "")
    else:
        uri = environ.get("REQUEST_URI", "")
        path = uri.partition("?")[0] if uri.startswith("/") else ""
        if "%" in path:  # RFC 3875 §4.1.5: PATH_INFO is decoded; PEP 3333 latin-1 "bytes as str"
            path = unquote_to_bytes(path.encode("latin-1")).decode("latin-1")
        full = path or script
    prefix = script_name or ""
    if prefix and (full == prefix or full.startswith(prefix + "/")):
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = prefix, full[len(prefix) :]
    else:
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = "", full


def cgi_environ(
    params: Sequence[tuple[bytes, bytes]],
    info: ConnectionInfo,
    body: InputStream,
    script_name: str | None,
    proxies: TrustedProxies | None = None,
) -> WSGIEnvironment:
    """The environ of a request a web server sent as CGI variables, made right for PEP 3333;
    ``proxies`` judge the proxy headers by the web server's REMOTE_ADDR (the client it saw)."""
    environ = environ_from_cgi(params, info, body)
    environ.setdefault("REQUEST_METHOD", "GET")
    if not environ.get("SERVER_NAME"):  # nginx sends "" without server_name; RFC 3875 §4.1.14
        host = environ.get("HTTP_HOST", "")
        host = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
        environ["SERVER_NAME"] = host or info.base["SERVER_NAME"]
    split = any(name == b"PATH_INFO" for name, _ in params)
    mount_paths(environ, script_name, split)
    if proxies is not None:
        proxies.apply(environ)
    return environ


def check_script_name(script_name: str | None) -> str | None:
    """Validate a mount point: None, "" (the root) or "/prefix"; a trailing "/" is dropped."""
    if script_name is None:
        return None
    prefix = script_name.rstrip("/")
    if prefix and not prefix.startswith("/"):
        raise ValueError(f"script_name must start with '/', got {script_name!r}")
    return prefix


class LogErrors:
    """``wsgi.errors`` written to the ``wsgikit.error`` log, one record per write (the default)."""

    __slots__ = ()

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors takes str, got {type(text).__name__}")
        line = text.rstrip("\r\n")
        if line:
            error_log.error("app: %s", line)
        return len(text)

    def writelines(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass


LOG_ERRORS = LogErrors()
