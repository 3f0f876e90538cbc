"""PasteDeploy factories for wsgikit, all in one module, and the option converters they share.

Each factory is registered as an entry point in setup.cfg, so an ini file can use it as
``egg:wsgikit#NAME``. Options arrive as strings; the ``as_*`` converters turn them into values
and raise :class:`~wsgikit.config.ConfigError` (a ValueError) naming the filter and the option::

    [pipeline:main]
    pipeline = egg:wsgikit#lint myapp

    level = as_int("gzip", "level", local_conf.get("level", 6), min=1, max=9)
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from wsgikit._paste_server import server_runner as main_server_runner
from wsgikit.config import ConfigError, parse_bool, parse_float, parse_int, parse_size
from wsgikit.lint import LintMiddleware
from wsgikit.middleware import (
    CSRF,
    BasicAuth,
    ContentLengthMiddleware,
    CookieStore,
    Dispatcher,
    ErrorDocuments,
    ErrorMiddleware,
    GzipMiddleware,
    MemoryStore,
    ProxyFix,
    RedisStore,
    ServerStore,
    SessionMiddleware,
    SignedCookies,
    SMTPNotifier,
    SQLiteStore,
    StaticFiles,
    from_addresses,
)
from wsgikit.middleware.sessions.middleware import DEFAULT_COOKIE_NAME
from wsgikit.types import WSGIApplication

__all__ = [
    "as_bool",
    "as_float",
    "as_int",
    "as_list",
    "as_size",
    "basic_auth_filter_factory",
    "check_options",
    "content_length_filter_factory",
    "csrf_filter_factory",
    "dispatch_composite_factory",
    "error_documents_filter_factory",
    "errors_filter_factory",
    "gzip_filter_factory",
    "lint_filter_factory",
    "main_server_runner",
    "proxy_fix_filter_factory",
    "sessions_filter_factory",
    "signed_cookies_filter_factory",
    "static_filter_factory",
]

_N = TypeVar("_N", int, float)
_T = TypeVar("_T")


def lint_filter_factory(
    app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``paste.filter_app_factory`` for ``egg:wsgikit#lint``: :class:`~wsgikit.lint.LintMiddleware`.

    Option: ``allow_head_body`` (bool, default false), as in LintMiddleware.
    """
    check_options("lint", local_conf, ("allow_head_body",))
    allow = as_bool("lint", "allow_head_body", local_conf.get("allow_head_body", False))
    return LintMiddleware(app, allow_head_body=allow)


def check_options(factory: str, options: Mapping[str, object], known: Iterable[str]) -> None:
    """Refuse unknown options: a typo in an ini file must not be silently ignored."""
    allowed = set(known)
    unknown = sorted(set(options) - allowed)
    if unknown:
        expected = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(f"{factory}: unknown option {unknown[0]!r} (options: {expected})")


def as_bool(factory: str, option: str, value: object) -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case), or a bool."""
    if isinstance(value, bool):
        return value
    return _convert(factory, option, value, parse_bool, "a boolean")


def as_int(
    factory: str, option: str, value: object, *, min: int | None = None, max: int | None = None
) -> int:
    """A base-10 integer (or an int), within ``min``/``max`` when given."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        number = _convert(factory, option, value, parse_int, "an integer")
    return _bounded(factory, option, value, number, low=min, high=max)


def as_float(
    factory: str,
    option: str,
    value: object,
    *,
    min: float | None = None,
    max: float | None = None,
) -> float:
    """A finite number (or an int/float), within ``min``/``max`` when given."""
    text = value
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)  # one path for both, so inf and nan are refused the same way
    number: float = _convert(factory, option, text, parse_float, "a number")
    return _bounded(factory, option, value, number, low=min, high=max)


def as_list(factory: str, option: str, value: object) -> list[str]:
    """Items separated by commas and/or whitespace (the ini habit), or a list/tuple of str."""
    if isinstance(value, str):
        return [item for item in re.split(r"[\s,]+", value) if item]
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ConfigError(f"{factory}: option {option}={value!r}: expected a list of strings")


def as_size(
    factory: str, option: str, value: object, *, min: int | None = None, max: int | None = None
) -> int:
    """A byte count: ``512``, ``64k``/``64KiB`` (x1024), ``1M``/``1MiB``, ``10MB`` (x10**6)."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        size = _convert(factory, option, value, parse_size, "a size like 512, 64k or 1MiB")
    return _bounded(factory, option, value, size, low=min, high=max)


def _convert(
    factory: str, option: str, value: object, parse: Callable[[str], _T], expected: str
) -> _T:
    if not isinstance(value, str):
        raise ConfigError(f"{factory}: option {option}={value!r}: expected {expected}")
    try:
        return parse(value)
    except ValueError as exc:
        raise ConfigError(f"{factory}: option {option}={value!r}: {exc}") from None


def _bounded(
    factory: str, option: str, raw: object, number: _N, *, low: _N | None, high: _N | None
) -> _N:
    if low is not None and number < low:
        raise ConfigError(f"{factory}: option {option}={raw!r}: must be >= {low}")
    if high is not None and number > high:
        raise ConfigError(f"{factory}: option {option}={raw!r}: must be <= {high}")
    return number


# -- the middleware --------------------------------------------------------------------------------

_SMTP_OPTIONS = (
    "smtp_from",
    "smtp_host",
    "smtp_password",
    "smtp_port",
    "smtp_security",
    "smtp_subject_prefix",
    "smtp_timeout",
    "smtp_to",
    "smtp_username",
)


def errors_filter_factory(
    app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``egg:wsgikit#errors``: :class:`~wsgikit.middleware.ErrorMiddleware`.

    ``debug`` (bool; default: ``debug`` of [DEFAULT], else false), ``show_details_to``
    (networks: ``127.0.0.1 ::1 10.0.0.0/8``), ``logger`` (a logger name). Mail on each error
    when ``smtp_to`` is given: ``smtp_to``, ``smtp_from``, ``smtp_host`` (localhost),
    ``smtp_port`` (25), ``smtp_security`` (none, starttls, ssl), ``smtp_username``,
    ``smtp_password``, ``smtp_timeout`` (seconds, 10), ``smtp_subject_prefix``.
    """
    name = "errors"
    check_options(name, local_conf, ("debug", "show_details_to", "logger", *_SMTP_OPTIONS))
    debug = as_bool(name, "debug", local_conf.get("debug", global_conf.get("debug", "false")))
    show_details_to = None
    if "show_details_to" in local_conf:
        networks = as_list(name, "show_details_to", local_conf["show_details_to"])
        try:
            show_details_to = from_addresses(*networks)
        except ValueError as exc:
            raise ConfigError(
                f"{name}: option show_details_to={local_conf['show_details_to']!r}: {exc}"
            ) from None
    logger = logging.getLogger(local_conf["logger"]) if local_conf.get("logger") else None
    notify = None
    if "smtp_to" in local_conf:
        if "smtp_from" not in local_conf:
            raise ConfigError(f"{name}: option smtp_to needs smtp_from (the sender address)")
        port = as_int(name, "smtp_port", local_conf.get("smtp_port", 25), min=1, max=65535)
        timeout = as_float(name, "smtp_timeout", local_conf.get("smtp_timeout", 10.0), min=0.001)
        try:
            notify = SMTPNotifier(
                local_conf.get("smtp_host", "localhost"),
                port,
                local_conf["smtp_from"],
                as_list(name, "smtp_to", local_conf["smtp_to"]),
                subject_prefix=local_conf.get("smtp_subject_prefix", "[wsgikit] "),
                timeout=timeout,
                security=local_conf.get("smtp_security", "none"),
                username=local_conf.get("smtp_username"),
                password=local_conf.get("smtp_password"),
            )
        except ValueError as exc:
            raise ConfigError(f"{name}: smtp options: {exc}") from None
    elif set(local_conf) & set(_SMTP_OPTIONS):
        raise ConfigError(f"{name}: smtp_* options need smtp_to (who gets the mail)")
    return ErrorMiddleware(
        app, debug=debug, logger=logger, show_details_to=show_details_to, notify=notify
    )


def error_documents_filter_factory(
    app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``egg:wsgikit#error_documents``: :class:`~wsgikit.middleware.ErrorDocuments`.

    Each option named by a status is a document, as in paste.errordocument:
    ``404 = /errors/404``; ``internal`` (bool, default true; false redirects).
    """
    name = "error_documents"
    internal = as_bool(name, "internal", local_conf.get("internal", "true"))
    documents: dict[int, str] = {}
    for option, value in local_conf.items():
        if option == "internal":
            continue
        if not (option.isascii() and option.isdigit()):
            raise ConfigError(
                f"{name}: unknown option {option!r} (options: internal, and statuses such as "
                "404 = /errors/404)"
            )
        documents[int(option)] = value
    if not documents:
        raise ConfigError(f"{name}: no documents: add options such as 404 = /errors/404")
    try:
        return ErrorDocuments(app, documents, internal=internal)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def gzip_filter_factory(
    app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``egg:wsgikit#gzip``: :class:`~wsgikit.middleware.GzipMiddleware`.

    ``min_size`` and ``max_buffer`` (sizes: 500, 64k, 1MiB), ``level`` (1-9), ``mime_types`` and
    ``encodings`` (lists), ``gzip_backend`` (isal, zlib-ng or zlib; default: the fastest within 2%
    of zlib's size).
    """
    name = "gzip"
    check_options(
        name,
        local_conf,
        ("min_size", "level", "mime_types", "encodings", "max_buffer", "gzip_backend"),
    )
    options: dict[str, Any] = {}
    for option in ("min_size", "max_buffer"):
        if option in local_conf:
            options[option] = as_size(name, option, local_conf[option], min=0)
    if "level" in local_conf:
        options["level"] = as_int(name, "level", local_conf["level"], min=1, max=9)
    for option in ("mime_types", "encodings"):
        if option in local_conf:
            options[option] = tuple(as_list(name, option, local_conf[option]))
    if "gzip_backend" in local_conf:
        options["gzip_backend"] = local_conf["gzip_backend"].strip() or None
    try:
        return GzipMiddleware(app, **options)
    except (TypeError, ValueError) as exc:  # e.g. an unknown encoding or a missing extra
        raise ConfigError(f"{name}: {exc}") from None


def _session_store(name: str, spec: str, local_conf: Mapping[str, str], here: str) -> Any:
    if spec == "cookie":
        size = as_size(
            name, "max_cookie_size", local_conf.get("max_cookie_size", 4093), min=64, max=4096
        )
        return CookieStore(max_size=size)
    if "max_cookie_size" in local_conf:
        raise ConfigError(f"{name}: option max_cookie_size only applies to store = cookie")
    if spec == "memory":
        return MemoryStore()
    if spec.startswith("sqlite:") and spec[len("sqlite:") :].strip():
        return SQLiteStore(os.path.join(here, spec[len("sqlite:") :].strip()))
    if spec.startswith(("redis://", "rediss://", "unix://")):
        try:
            return RedisStore(spec)
        except (ImportError, ValueError) as exc:
            raise ConfigError(f"{name}: option store={spec!r}: {exc}") from None
    raise ConfigError(
        f"{name}: option store={spec!r}: expected cookie, memory, sqlite:PATH or a redis:// URL"
    )


def sessions_filter_factory(
    app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``egg:wsgikit#sessions``: :class:`~wsgikit.middleware.SessionMiddleware`.

    ``secret`` (required), ``secret_fallbacks`` (a list); ``store``: ``cookie`` (default),
    ``memory``, ``sqlite:PATH`` (relative to the ini file) or a ``redis://`` URL;
    ``max_cookie_size``; ``cookie_name``; ``max_age`` (seconds); ``secure`` (true/false/auto);
    ``httponly``; ``samesite`` (Lax/Strict/None/unset); ``path``; ``domain``.
    """
    name = "sessions"
    check_options(
        name,
        local_conf,
        (
            *("secret", "secret_fallbacks", "store", "max_cookie_size", "cookie_name"),
            *("max_age", "secure", "httponly", "samesite", "path", "domain"),
        ),
    )
    secret = _required(name, "secret", local_conf)
    here = global_conf.get("here", "")
    store = _session_store(name, local_conf.get("store", "cookie").strip(), local_conf, here)
    cookie = _cookie_options(name, local_conf)
    try:
        return SessionMiddleware(
            app,
            secret=secret,
            secret_fallbacks=as_list(
                name, "secret_fallbacks", local_conf.get("secret_fallbacks", "")
            ),
            store=store,
            cookie_name=local_conf.get("cookie_name", DEFAULT_COOKIE_NAME).strip(),
            max_age=as_int(name, "max_age", local_conf.get("max_age", 14 * 86400), min=1),
            **cookie,
        )
    except (TypeError, ValueError) as exc:  # SessionMiddleware's message names the option
        if isinstance(store, ServerStore):
            store.close()
        raise ConfigError(f"{name}: {exc}") from None


_COOKIE_OPTIONS = ("secure", "httponly", "samesite", "path", "domain")
_SECRET_HINT = "e.g. the output of python -c 'import secrets; print(secrets.token_hex(32))'"


def _required(name: str, option: str, local_conf: Mapping[str, str]) -> str:
    value = local_conf.get(option, "").strip()
    if not value:
        hint = f" ({_SECRET_HINT})" if option == "secret" else ""
        raise ConfigError(f"{name}: option {option} is required{hint}")
    return value


def _cookie_options(name: str, local_conf: Mapping[str, str]) -> dict[str, Any]:
    """``secure`` (true/false/auto), ``httponly``, ``samesite`` (Lax/Strict/None/unset),
    ``path``, ``domain``: the cookie attributes SessionMiddleware, SignedCookies and CSRF take."""
    secure_text = local_conf.get("secure", "auto").strip().lower()
    samesite_text = local_conf.get("samesite", "Lax").strip()
    return {
        "secure": None if secure_text == "auto" else as_bool(name, "secure", secure_text),
        "httponly": as_bool(name, "httponly", local_conf.get("httponly", True)),
        "samesite": None if samesite_text.lower() in ("", "unset") else samesite_text,
        "path": local_conf.get("path", "/").strip(),
        "domain": local_conf.get("domain", "").strip() or None,
    }


def _build(
    name: str, make: Callable[..., WSGIApplication], *args: Any, **kw: Any
) -> WSGIApplication:
    """``make(*args, **kw)``, its TypeError/ValueError (which names the option) a ConfigError."""
    try:
        return make(*args, **kw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None


def signed_cookies_filter_factory(
    app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``egg:wsgikit#signed_cookies``: :class:`~wsgikit.middleware.SignedCookies`.

    ``secret`` (required; a list: the first signs, all verify), ``max_age`` (seconds, default
    31 days), ``salt``, and the cookie attributes ``secure`` (true/false/auto), ``httponly``,
    ``samesite`` (Lax/Strict/None/unset), ``path``, ``domain``.
    """
    name = "signed_cookies"
    check_options(name, local_conf, ("secret", "max_age", "salt", *_COOKIE_OPTIONS))
    options: dict[str, Any] = _cookie_options(name, local_conf)
    if "max_age" in local_conf:
        options["max_age"] = as_int(name, "max_age", local_conf["max_age"], min=1)
    if "salt" in local_conf:
        options["salt"] = local_conf["salt"].strip()
    secret = as_list(name, "secret", _required(name, "secret", local_conf))
    return _build(name, SignedCookies, app, secret=secret, **options)


def csrf_filter_factory(
    app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``egg:wsgikit#csrf``: :class:`~wsgikit.middleware.CSRF`.

    ``secret`` (required; a list: the first signs, all verify), ``trusted_origins`` and
    ``exempt_paths`` (lists), ``use_session`` (bool, default true), ``field_name``,
    ``header_name``, ``cookie_name``, ``max_age`` (seconds), ``max_form_size`` (a size), and
    the cookie attributes ``secure``, ``httponly``, ``samesite``, ``path``, ``domain``.
    """
    name = "csrf"
    texts = ("field_name", "header_name", "cookie_name")
    lists = ("trusted_origins", "exempt_paths")
    check_options(
        name,
        local_conf,
        ("secret", "use_session", "max_age", "max_form_size", *texts, *lists, *_COOKIE_OPTIONS),
    )
    options: dict[str, Any] = _cookie_options(name, local_conf)
    options.update({key: local_conf[key].strip() for key in texts if key in local_conf})
    options.update({key: as_list(name, key, local_conf[key]) for key in lists if key in local_conf})
    if "use_session" in local_conf:
        options["use_session"] = as_bool(name, "use_session", local_conf["use_session"])
    if "max_age" in local_conf:
        options["max_age"] = as_int(name, "max_age", local_conf["max_age"], min=1)
    if "max_form_size" in local_conf:
        options["max_form_size"] = as_size(name, "max_form_size", local_conf["max_form_size"])
    secret = as_list(name, "secret", _required(name, "secret", local_conf))
    return _build(name, CSRF, app, secret=secret, **options)


def basic_auth_filter_factory(
    app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``egg:wsgikit#basic_auth``: :class:`~wsgikit.middleware.BasicAuth`.

    ``realm`` and ``htpasswd`` (a file, relative to the ini file) required; ``open_paths`` (a
    list of path prefixes that need no password).
    """
    name = "basic_auth"
    check_options(name, local_conf, ("realm", "htpasswd", "open_paths"))
    path = os.path.join(global_conf.get("here", ""), _required(name, "htpasswd", local_conf))
    return _build(
        name,
        BasicAuth,
        app,
        realm=_required(name, "realm", local_conf),
        htpasswd=path,
        open_paths=as_list(name, "open_paths", local_conf.get("open_paths", "")),
    )


def content_length_filter_factory(
    app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``egg:wsgikit#content_length``: :class:`~wsgikit.middleware.ContentLengthMiddleware`.

    ``max_buffer`` (size, default 1MiB) and ``min_chunk`` (size, default 8KiB).
    """
    name = "content_length"
    check_options(name, local_conf, ("max_buffer", "min_chunk"))
    get = local_conf.get
    max_buffer = as_size(name, "max_buffer", get("max_buffer", 1 << 20), min=0)
    min_chunk = as_size(name, "min_chunk", get("min_chunk", 8 << 10), min=0)
    return ContentLengthMiddleware(app, max_buffer=max_buffer, min_chunk=min_chunk)


def proxy_fix_filter_factory(
    app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``egg:wsgikit#proxy_fix``: :class:`~wsgikit.middleware.ProxyFix`.

    ``trusted`` (addresses/CIDRs or ``*``, default 127.0.0.1 ::1), the hop counts ``x_for``,
    ``x_proto`` (default 1), ``x_host``, ``x_port``, ``x_prefix`` (default 0) and ``forwarded``
    (bool: RFC 7239 ``Forwarded`` instead of ``X-Forwarded-*``).
    """
    name = "proxy_fix"
    hops = ("x_for", "x_proto", "x_host", "x_port", "x_prefix")
    check_options(name, local_conf, ("trusted", "forwarded", *hops))
    defaults = {"x_for": 1, "x_proto": 1}
    counts = {h: as_int(name, h, local_conf.get(h, defaults.get(h, 0)), min=0) for h in hops}
    trusted = as_list(name, "trusted", local_conf.get("trusted", "127.0.0.1 ::1"))
    forwarded = as_bool(name, "forwarded", local_conf.get("forwarded", False))
    try:
        return ProxyFix(app, trusted=trusted, forwarded=forwarded, **counts)
    except (TypeError, ValueError) as exc:  # the message names the option
        raise ConfigError(str(exc)) from None


def dispatch_composite_factory(
    loader: Any, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``egg:wsgikit#dispatch`` (``[composite:...]``): a :class:`~wsgikit.middleware.Dispatcher`.

    ``/prefix = app_name`` mounts an app for any host. An ini key cannot hold ":" (configparser
    splits there), so host mounts are ``mount.LABEL = http[s]://host[:port]/prefix app_name``.
    Options: ``not_found`` (an app name) and ``redirect_slash`` (bool, default true)::

        [composite:main]
        use = egg:wsgikit#dispatch
        / = site
        /admin = admin
        mount.api = https://api.example.com/v1 api
    """
    name = "dispatch"
    mounts: dict[str, str] = {}
    options: dict[str, str] = {}
    for key, value in local_conf.items():
        if key.startswith("/"):
            mounts[key] = value.strip()
        elif key.startswith("mount."):
            where, _, target = value.strip().rpartition(" ")
            if not where.strip() or not target:
                raise ConfigError(
                    f"{name}: option {key}={value!r}: expected 'http[s]://host[:port]/prefix app'"
                )
            mounts[where.strip()] = target
        else:
            options[key] = value
    check_options(name, options, ("not_found", "redirect_slash"))
    redirect_slash = as_bool(name, "redirect_slash", options.get("redirect_slash", True))
    not_found = options.get("not_found", "").strip()
    try:
        return Dispatcher(
            {key: loader.get_app(app, global_conf=global_conf) for key, app in mounts.items()},
            not_found=loader.get_app(not_found, global_conf=global_conf) if not_found else None,
            redirect_slash=redirect_slash,
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{name}: {exc}") from None


def static_filter_factory(
    app: WSGIApplication, global_conf: Mapping[str, str], **local_conf: str
) -> WSGIApplication:
    """``egg:wsgikit#static``: :class:`~wsgikit.middleware.StaticFiles`.

    ``/prefix/ = dir [dir...]`` mounts directories (relative to the ini file), searched in
    order; options ``max_age`` (seconds), ``index`` (a file name), ``follow_symlinks`` and
    ``allow_dotfiles`` (bools), ``encodings`` (a list of br, zstd, gzip), ``memory_cache``
    (a size), ``recheck`` (seconds)::

        [filter:static]
        use = egg:wsgikit#static
        /static/ = static vendor/static
        max_age = 300
    """
    name = "static"
    here = global_conf.get("here", "")
    mounts = {
        key: [os.path.join(here, d) for d in as_list(name, key, value)]
        for key, value in local_conf.items()
        if key.startswith("/")
    }
    options = {key: value for key, value in local_conf.items() if not key.startswith("/")}
    check_options(
        name,
        options,
        (
            *("max_age", "index", "follow_symlinks", "allow_dotfiles", "encodings"),
            *("memory_cache", "recheck"),
        ),
    )
    if not mounts:
        raise ConfigError(f"{name}: no directories: add options such as /static/ = static")
    kwargs: dict[str, Any] = {}
    if "max_age" in options:
        kwargs["max_age"] = as_int(name, "max_age", options["max_age"], min=0)
    if "index" in options:
        kwargs["index"] = options["index"].strip() or None
    for flag in ("follow_symlinks", "allow_dotfiles"):
        if flag in options:
            kwargs[flag] = as_bool(name, flag, options[flag])
    if "encodings" in options:
        kwargs["encodings"] = tuple(as_list(name, "encodings", options["encodings"]))
    if "memory_cache" in options:
        kwargs["memory_cache"] = as_size(name, "memory_cache", options["memory_cache"], min=0)
    if "recheck" in options:
        kwargs["recheck"] = as_float(name, "recheck", options["recheck"], min=0)
    try:
        return StaticFiles(app, mounts, **kwargs)
    except (TypeError, ValueError) as exc:  # the message names the option or the directory
        raise ConfigError(f"{name}: {exc}") from None
