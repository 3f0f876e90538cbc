"""The ``wsgikit`` command line (``python -m wsgikit`` is the same).

Each subcommand is one :class:`Command` in :data:`COMMANDS`: a name, a help line, its settings
(:mod:`wsgikit.config`: each gives ``--flag``, ``WSGIKIT_NAME`` and a TOML key) and a runner called
with the loaded app and the resolved settings; adding ``fcgi`` is one more entry. Usage::

    wsgikit check myapp:app --path / --path /api/x   # GET, HEAD, POST bodies under LintMiddleware
    wsgikit serve "myapp:create_app(debug=True)" --bind 0.0.0.0:8000
    wsgikit serve myapp:app --config wsgikit.toml --print-config

Exit status: 0 fine, 1 problems found (``check``) or the server could not start, 2 a usage,
settings or load error (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from wsgikit import __version__
from wsgikit._binds import BindError, parse_bind
from wsgikit._check import check_app, check_path
from wsgikit._compiled import describe
from wsgikit._compress import COMPRESS, run_compress
from wsgikit._logsetup import configure_logging
from wsgikit._proxy_settings import PROXIES, PROXY_PROTOCOL, proxy_options
from wsgikit.config import (
    CONFIG_ENV,
    Config,
    ConfigError,
    Setting,
    add_arguments,
    cli_values,
    parse_size,
    resolve,
)
from wsgikit.loader import LoadError, load_app, prepare_sys_path
from wsgikit.servers import ajp
from wsgikit.servers._manager_settings import (
    inherited_binds,
    multiprocess,
    wants_manager,
    worker_settings,
)
from wsgikit.servers._tls import SETTINGS as TLS
from wsgikit.servers._tls import tls_options
from wsgikit.servers._watch_settings import check_reload, loop_watch_options, watch_settings
from wsgikit.types import WSGIApplication

__all__ = ["COMMANDS", "Command", "Launch", "main"]

Builder = Callable[[WSGIApplication, Sequence[str]], Any]  # (app, binds) -> an EventServer


@dataclass(frozen=True)
class Launch:
    """What a runner gets: the settings, the app's loader (a worker process may be the one to
    call it) and ``reread()``, which resolves the settings anew (the manager's HUP)."""

    settings: Config
    load: Callable[[], WSGIApplication]
    reread: Callable[[], Config]
    host_logging: bool = False  # pserve configured logging: add no handler (see _logsetup)


@dataclass(frozen=True)
class Command:
    """A subcommand: ``run(launch)`` returns the exit status (a command without the ``app``
    setting, such as ``compress``, gets a ``launch.load`` that raises)."""

    name: str
    help: str
    settings: tuple[Setting, ...]
    run: Callable[[Launch], int]


APP = Setting(
    "app",
    str,
    None,
    "the app: module:app, module:obj.attr, module:factory(...), module, config:app.ini#name",
    metavar="SPEC",
    positional=True,
)
CHDIR = Setting(
    "chdir", str, None, "change to this directory before loading the app", metavar="DIR"
)
PYTHONPATH = Setting("pythonpath", list, (), "put DIR first on sys.path", metavar="DIR")
BIND = Setting(
    "bind",
    list,
    ("127.0.0.1:8000",),
    "listen on HOST:PORT, [IPv6]:PORT or unix:/path (repeat for several)",
    validate=parse_bind,
    metavar="ADDR",
)
ACCESS_LOG = Setting("access_log", bool, False, "log each request (Apache combined format)")
LOG_LEVEL = Setting(
    "log_level", str, "info", "error log level", choices=("debug", "info", "warning", "error")
)
LOADING = (APP, CHDIR, PYTHONPATH)  # every subcommand loads an app the same way


def _digits(text: str) -> None:
    if not (text.isascii() and text.isdigit()):
        raise ValueError("expected a file descriptor number")


def _mode(text: str) -> None:
    if not re.fullmatch(r"0?[0-7]{3}", text):
        raise ValueError("expected an octal mode such as 660")


def _size(text: str) -> None:
    parse_size(text)


def _body_limit(text: str) -> int | None:
    """``--limit-body``: a size; 0 or none is no limit (nginx's client_max_body_size 0)."""
    if text.strip().lower() == "none":
        return None
    return parse_size(text) or None


SERVE = (
    BIND,
    Setting("fd", list, (), "serve on inherited listening socket N", validate=_digits, metavar="N"),
    Setting("threads", int, 8, "app threads; 0 runs the app on the I/O loop", min=0, max=1024),
    Setting("backlog", int, 2048, "listen queue length", min=1),
    Setting("unix_mode", str, None, "permissions of unix sockets (octal)", validate=_mode),
    Setting("server_header", str, "wsgikit", "the Server header; empty to leave it out"),
    Setting(
        "buffer_bodies",
        bool,
        True,
        "read each whole request body before the app runs (past 64 KiB into a temporary "
        "file): slow uploads hold no thread, and Expect: 100-continue is answered as the head "
        "arrives; --no-buffer-bodies streams bodies to the app on its thread, and answers "
        "100-continue when the app first reads (inline mode, --threads 0, always buffers)",
    ),
    ACCESS_LOG,
    LOG_LEVEL,
    Setting("limit_request_line", int, 8192, "longest request line (bytes) -> 414", min=64),
    Setting("limit_header_size", str, "64KiB", "largest header block -> 431", validate=_size),
    Setting("limit_headers", int, 100, "most header fields -> 431", min=1),
    Setting(
        "limit_body",
        str,
        "1GiB",
        "largest request body -> 413; 0 or none: no limit (bodies past memory go to disk)",
        validate=_body_limit,
        metavar="SIZE",
    ),
    Setting("timeout_header", float, 30.0, "seconds to receive a request head", min=0.01),
    Setting("timeout_body", float, 60.0, "seconds without body progress", min=0.01),
    Setting("timeout_idle", float, 30.0, "seconds an idle keep-alive connection stays", min=0.01),
    Setting("timeout_write", float, 60.0, "seconds a stalled client may block a write", min=0.01),
    Setting("timeout_shutdown", float, 30.0, "seconds to finish requests on stop", min=0.0),
    Setting(
        "write_buffer",
        str,
        "1MiB",
        "response bytes queued for a slow client before the app waits for it",
        validate=_size,
    ),
    *PROXIES,
    PROXY_PROTOCOL,
    *TLS,
    *worker_settings(),
    *watch_settings(),
)

CHECK = (
    *LOADING,
    Setting(
        "path",
        list,
        ("/",),
        "a path to check with GET, HEAD and POST bodies of 0 B to 1 MB, with Content-Length "
        "and chunked; one for each mounted app, e.g. --path /django/ --path /api/x",
        validate=check_path,
        metavar="PATH",
    ),
)


def _run_check(launch: Launch) -> int:
    """Call the app as a strict server would, under LintMiddleware; report every problem."""
    settings = launch.settings
    problems = check_app(launch.load(), settings["path"])
    if problems:
        print(f"{settings['app']}: {problems} problem{'s' if problems > 1 else ''} found")
        return 1
    print(f"{settings['app']}: no problems found")
    return 0


def _serve_binds(settings: Config) -> list[str]:
    """Every socket to listen on, the HTTPS redirect ones (``serve``) last: the manager binds
    them all once, and the server builder takes as many off the end as there are redirects."""
    fds = [f"fd://{n}" for n in settings["fd"]]
    inherited, only = inherited_binds()  # systemd's LISTEN_FDS, or a USR2 re-exec's
    if only:
        return inherited
    fds += inherited
    redirects = list(settings.get("redirect_https") or ())
    if fds and settings.source("bind") == "default":
        return [*fds, *redirects]  # --fd alone: only the inherited sockets, not the default
    return [*settings["bind"], *fds, *redirects]


def _loop_options(settings: Config) -> dict[str, Any]:
    """The settings every server on the event loop takes (serve, fcgi, scgi)."""
    mode = settings["unix_mode"]
    return {
        "threads": settings["threads"],
        "backlog": settings["backlog"],
        "unix_mode": int(mode, 8) if mode else None,
        "header_timeout": settings["timeout_header"],
        "body_timeout": settings["timeout_body"],
        "idle_timeout": settings["timeout_idle"],
        "write_timeout": settings["timeout_write"],
        "shutdown_timeout": settings["timeout_shutdown"],
        "write_buffer": parse_size(settings["write_buffer"]),
        "buffer_bodies": settings["buffer_bodies"],
        "multiprocess": multiprocess(settings),
        **proxy_options(settings),
        **loop_watch_options(settings),
    }


def _start(command: str, launch: Launch, builder: Callable[[Config], Builder]) -> int:
    """Build a server (binding its sockets), print where it listens, run until SIGINT/SIGTERM;
    or, with --workers (and the settings that need it), run the worker-process manager."""
    from wsgikit.servers._listen import describe  # noqa: PLC0415 (only the servers need it)
    from wsgikit.servers._loop import run_until_signal  # noqa: PLC0415
    from wsgikit.servers._poller import PollerError  # noqa: PLC0415
    from wsgikit.servers._systemd import notify  # noqa: PLC0415

    settings = launch.settings
    configure_logging(
        settings["log_level"], access_log=settings["access_log"], host=launch.host_logging
    )
    check_reload(settings)
    if wants_manager(settings) or settings["reload"]:  # --reload: a manager restarts workers
        from wsgikit.servers._manager_cli import run_manager  # noqa: PLC0415

        return run_manager(command, launch, builder, _serve_binds(settings))
    try:
        server = builder(settings)(launch.load(), _serve_binds(settings))
    except (BindError, PollerError) as exc:
        print(f"wsgikit {command}: error: {exc}", file=sys.stderr)
        return 1
    listeners = server.listeners.values()
    where = ", ".join(describe(sock, server.scheme_of(info)) for sock, info in listeners)
    print(f"Serving {settings['app']} on {where}", flush=True)
    notify("READY=1")  # systemd Type=notify: the sockets are bound, the loop starts now
    run_until_signal(server)
    notify("STOPPING=1")
    print("Stopped.", flush=True)
    return 0


def _run_serve(launch: Launch) -> int:
    """Serve with the HTTP server until SIGINT/SIGTERM (in-flight requests finish)."""
    return _start("serve", launch, _http_server)


def _http_server(settings: Config) -> Builder:
    from wsgikit.servers.http import Limits, Server  # noqa: PLC0415 (only serve needs them)
    from wsgikit.servers.proxy_protocol import ProxyProtocolServer  # noqa: PLC0415

    limits = Limits(
        max_request_line=settings["limit_request_line"],
        max_header_size=parse_size(settings["limit_header_size"]),
        max_headers=settings["limit_headers"],
        max_body_size=_body_limit(settings["limit_body"]),
    )
    server_class = ProxyProtocolServer if settings["proxy_protocol"] else Server
    tls = tls_options(settings)  # a bad certificate path: one error before any fork
    redirects = len(tls.pop("redirect_https", ()))  # the last binds _serve_binds gives

    def build(app: WSGIApplication, binds: Sequence[str]) -> Any:
        cut = len(binds) - redirects
        return server_class(
            app,
            binds[:cut],
            redirect_https=binds[cut:],
            server_header=settings["server_header"] or None,
            limits=limits,
            **tls,
            **_loop_options(settings),
        )

    return build


def _mount_point(text: str) -> None:
    if text and not text.startswith("/"):
        raise ValueError("expected a path starting with / (the mount point), e.g. /app")


def _gateway(default_bind: tuple[str, ...], bind_help: str, skip: str = "") -> tuple[Setting, ...]:
    """Settings shared by ``fcgi`` and ``scgi``: the serve ones that apply, plus the mount."""
    kept = {"fd", "threads", "backlog", "unix_mode", "access_log", "log_level"}
    kept |= {"timeout_header", "timeout_body", "timeout_idle", "timeout_write", "timeout_shutdown"}
    kept |= {"write_buffer", "buffer_bodies", "limit_body", *(s.name for s in PROXIES)}
    kept |= {s.name for s in worker_settings()}
    kept |= {s.name for s in watch_settings()}
    bind = Setting("bind", list, default_bind, bind_help, validate=parse_bind, metavar="ADDR")
    script_name = Setting(
        "script_name",
        str,
        None,
        "mount point: SCRIPT_NAME=PREFIX, PATH_INFO=the rest of the request path "
        "(for web servers that send the whole path as SCRIPT_NAME)",
        validate=_mount_point,
        metavar="PREFIX",
    )
    return (bind, *(s for s in SERVE if s.name in kept and s.name != skip), script_name)


FCGI = (
    *_gateway(
        (),
        "listen on HOST:PORT, [IPv6]:PORT or unix:/path (default: the socket on fd 0)",
        skip="max_requests",  # FCGI_MAX_REQS below; recycling is --max-worker-requests
    ),
    *(s for s in worker_settings("max_worker_requests") if s.name == "max_worker_requests"),
    Setting("multiplex", bool, True, "accept several request ids per connection"),
    Setting("max_requests", int, 64, "request ids per connection (FCGI_MAX_REQS)", min=1),
    Setting("stderr", str, "log", "where wsgi.errors goes", choices=("log", "fcgi")),
)
SCGI = _gateway(("127.0.0.1:4000",), "listen on HOST:PORT, [IPv6]:PORT or unix:/path")
AJP = (
    *_gateway(("127.0.0.1:8009",), "listen on HOST:PORT, [IPv6]:PORT or unix:/path"),
    *ajp.SETTINGS,
)


def _run_fcgi(launch: Launch) -> int:
    """Serve over FastCGI; with neither --bind nor --fd, on the socket inherited as fd 0."""
    return _start("fcgi", launch, _fcgi_server)


def _fcgi_server(settings: Config) -> Builder:
    from wsgikit.servers.fastcgi import FastCGIServer  # noqa: PLC0415 (only fcgi needs it)

    return lambda app, binds: FastCGIServer(
        app,
        binds,
        multiplex=settings["multiplex"],
        max_requests=settings["max_requests"],
        stderr=settings["stderr"],
        script_name=settings["script_name"],
        max_body=_body_limit(settings["limit_body"]),
        **_loop_options(settings),
    )


def _run_scgi(launch: Launch) -> int:
    return _start("scgi", launch, _scgi_server)


def _scgi_server(settings: Config) -> Builder:
    from wsgikit.servers.scgi import SCGIServer  # noqa: PLC0415 (only scgi needs it)

    return lambda app, binds: SCGIServer(
        app,
        binds,
        script_name=settings["script_name"],
        max_body=_body_limit(settings["limit_body"]),
        **_loop_options(settings),
    )


def _run_ajp(launch: Launch) -> int:
    return _start("ajp", launch, _ajp_server)


def _ajp_server(settings: Config) -> Builder:
    options = ajp.server_options(settings) | _loop_options(settings)
    options["max_body"] = _body_limit(settings["limit_body"])
    return lambda app, binds: ajp.AJPServer(app, binds, **options)


def _run_compress(launch: Launch) -> int:
    return run_compress(None, launch.settings)


def _run_cgi(launch: Launch) -> int:
    """Answer the one request of this process as a CGI script (RFC 3875)."""
    from wsgikit.servers.cgi import run  # noqa: PLC0415 (only cgi needs the gateway)

    configure_logging(launch.settings["log_level"])  # stderr: the web server's error log
    run(launch.load())
    return 0


COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (
        Command(
            "check",
            "run the app under LintMiddleware: GET, HEAD and POST bodies up to 1 MB on each path",
            CHECK,
            _run_check,
        ),
        Command("serve", "serve the app over HTTP/1.1", (*LOADING, *SERVE), _run_serve),
        Command(
            "cgi", "answer one request as a CGI script (RFC 3875)", (*LOADING, LOG_LEVEL), _run_cgi
        ),
        Command("fcgi", "serve the app over FastCGI (nginx, Apache)", (*LOADING, *FCGI), _run_fcgi),
        Command("scgi", "serve the app over SCGI (nginx scgi_pass)", (*LOADING, *SCGI), _run_scgi),
        Command(
            "ajp", "serve the app over AJP13 (Apache mod_proxy_ajp)", (*LOADING, *AJP), _run_ajp
        ),
        Command("compress", "write .gz/.br/.zst siblings for StaticFiles", COMPRESS, _run_compress),
    )
}


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: ``sys.exit(main())`` (setuptools' wrapper does exactly that)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse has printed them
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    command = COMMANDS[args.command]

    def reread() -> Config:  # the settings, resolved anew (config file, environment)
        return _effective(
            resolve(
                command.settings,
                section=command.name,
                cli=cli_values(args, command.settings),
                config_file=args.config,
                sections={name: c.settings for name, c in COMMANDS.items()},
            )
        )

    try:
        settings = reread()
        if args.print_config:
            print(settings.describe())
            return 0
        if APP not in command.settings:  # a command on files (compress): no app to load
            return command.run(Launch(settings, _no_app, reread))
        if not settings["app"]:
            raise ConfigError(
                f"no app given: pass SPEC, set {APP.env}, or set app in a config file"
            )
        prepare_sys_path(chdir=settings["chdir"], pythonpath=settings["pythonpath"])
        spec = settings["app"]
        return command.run(Launch(settings, lambda: load_app(spec), reread))
    except (ConfigError, LoadError) as exc:
        print(f"wsgikit {command.name}: error: {exc}", file=sys.stderr)
        return 2


def _no_app() -> WSGIApplication:
    raise LoadError("this command loads no app")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsgikit", description="Check and serve WSGI (PEP 3333) applications."
    )
    version = f"wsgikit {__version__} ({describe()})"
    parser.add_argument("--version", action="version", version=version)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        add_arguments(sub, command.settings)
        sub.add_argument(
            "--config", metavar="FILE", help=f"a TOML settings file (env {CONFIG_ENV})"
        )
        sub.add_argument(
            "--print-config", action="store_true", help="print the settings and their sources"
        )
    return parser


def _effective(settings: Config) -> Config:
    """The values that take effect where one setting overrules another."""
    if settings.get("threads") == 0 and settings.get("buffer_bodies") is False:
        return settings.overridden(
            "buffer_bodies", True, "inline mode (threads = 0) always reads whole bodies first"
        )
    return settings
