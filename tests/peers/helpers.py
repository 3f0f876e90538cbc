"""Start a real Apache httpd or nginx on a free port in a temp dir, for the integration tests.

Each starter takes the configuration text of the test (Apache directives; the body of an nginx
``server`` block) and wraps it in a minimal main configuration whose paths all point into the
directory given, so tests never touch /etc or a system instance. Missing programs or modules
skip the test, or fail it when ``WSGIKIT_REQUIRE_INTEGRATION=1`` (as .ci/run sets)::

    with start_apache(tmp, "ScriptAlias /app /srv/app.cgi", modules=["alias", "cgi"]) as httpd:
        requests.get(httpd.url("/app/"))
    with start_nginx(tmp, "location / { fastcgi_pass 127.0.0.1:9000; }") as nginx: ...
    with start_nginx(tmp, "proxy_pass 127.0.0.1:9000; proxy_protocol on;", stream=True): ...
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.integration import free_port, missing

ROOT = Path(__file__).resolve().parents[2]  # the checkout these tests belong to
APACHE_MODULE_DIRS = ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules", "/usr/lib/httpd")
NGINX_MODULE_DIRS = (
    "/usr/lib/nginx/modules",
    "/usr/lib64/nginx/modules",
    "/usr/share/nginx/modules",
)
SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")  # not on a non-root PATH everywhere


def find_program(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN))
        if found:
            return found
    return missing(f"{names[0]} is not installed")


def world_readable_dir(prefix: str) -> Path:
    """A new directory under /tmp that the server's unprivileged user can read and enter."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if os.path.isdir("/tmp") else None))
    path.chmod(0o755)
    return path


def make_readable(path: Path) -> None:
    """chmod a+rX, recursively: what www-data must be able to read and run."""
    for folder, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in files:
            file = os.path.join(folder, name)
            if not os.path.islink(file):
                os.chmod(file, os.stat(file).st_mode | 0o444)
    path.chmod(0o755)


def unprivileged_user() -> str | None:
    """The user a server started as root must switch to (Debian's www-data), else None."""
    if os.geteuid() != 0:
        return None
    for name in ("www-data", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name).pw_name
    return missing("running as root, but there is no www-data or nobody user for the server")


@dataclass
class Peer:
    """A running server: its port, its directory, and its error log."""

    name: str
    port: int
    directory: Path
    error_log: Path

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, timeout: float = 5.0) -> str:
        """The error log once ``text`` is in it (servers write it after the response)."""
        end = time.monotonic() + timeout
        while text not in (log := self.log()) and time.monotonic() < end:
            time.sleep(0.05)
        return log


@contextlib.contextmanager
def running(peer: Peer, argv: Sequence[str]) -> Iterator[Peer]:
    """Run ``argv`` in the foreground until the port accepts; stop it after."""
    with open(peer.directory / "console.log", "wb") as console:
        proc = subprocess.Popen(argv, stdout=console, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                output = (peer.directory / "console.log").read_text(errors="replace")
                pytest.fail(f"{peer.name} exited with {proc.returncode}:\n{output}\n{peer.log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", peer.port)):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"{peer.name} did not listen on {peer.port} in 20 s:\n{peer.log()}")
            time.sleep(0.05)
        yield peer
    finally:
        proc.terminate()  # both stop their workers (and mod_wsgi daemons) on SIGTERM
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_wsgikit(
    directory: Path, command: str, spec: str, *extra: str
) -> contextlib.AbstractContextManager[Peer]:
    """``wsgikit COMMAND SPEC`` run from this checkout on a free port, as a user runs it."""
    peer = Peer(f"wsgikit {command}", free_port(), directory, directory / "console.log")
    argv = [sys.executable, "-m", "wsgikit", command, spec, "--chdir", str(ROOT)]
    return running(peer, [*argv, "--bind", f"127.0.0.1:{peer.port}", *extra])


def apache_modules(names: Sequence[str]) -> str:
    """LoadModule lines. The base modules may be built in; the ones a test asks for must exist."""
    folder = next((d for d in APACHE_MODULE_DIRS if os.path.isdir(d)), None)
    if folder is None:
        missing("no Apache module directory (is apache2 installed?)")
    lines = []
    for name in ("mpm_event", "authz_core", "unixd", *names):
        path = os.path.join(folder, f"mod_{name}.so")
        if os.path.exists(path):
            lines.append(f"LoadModule {name}_module {path}")
        elif name in names:
            missing(f"the Apache module mod_{name} is not installed")
    return "\n".join(lines)


@contextlib.contextmanager
def start_apache(
    directory: Path, config: str, *, modules: Sequence[str] = (), log_level: str = "info"
) -> Iterator[Peer]:
    """Apache httpd (event MPM) running ``config`` on a free port in ``directory``."""
    binary = find_program("apache2", "httpd")
    peer = Peer("apache", free_port(), directory, directory / "error.log")
    for sub in ("run", "htdocs"):
        (directory / sub).mkdir(mode=0o755, exist_ok=True)
    user = unprivileged_user()
    main = f"""
ServerRoot "{directory}"
DefaultRuntimeDir "{directory}/run"
PidFile "{directory}/run/httpd.pid"
Mutex file:{directory}/run default
ErrorLog "{peer.error_log}"
LogLevel {log_level}
Listen 127.0.0.1:{peer.port}
ServerName 127.0.0.1
DocumentRoot "{directory}/htdocs"
{apache_modules(modules)}
{f"User {user}" if user else ""}
{f"Group {_group_of(user)}" if user else ""}
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{directory}/htdocs">
    Require all granted
</Directory>
{config}
"""
    path = directory / "httpd.conf"
    path.write_text(main)
    with running(peer, [binary, "-d", str(directory), "-f", str(path), "-DFOREGROUND"]):
        yield peer


@contextlib.contextmanager
def start_nginx(
    directory: Path, server: str, *, http: str = "", stream: bool = False
) -> Iterator[Peer]:
    """nginx running one ``server`` block (and ``http``-level directives) in ``directory``.

    ``stream=True``: ``server`` is the body of a ``stream`` server block instead (TCP proxying,
    the dynamic module of Debian's libnginx-mod-stream), listening on the peer's port.
    """
    binary = find_program("nginx")
    peer = Peer("nginx", free_port(), directory, directory / "error.log")
    user = unprivileged_user()
    listen = f"listen 127.0.0.1:{peer.port};"
    if stream:
        body = f"stream {{\n    server {{\n        {listen}\n{server}\n    }}\n}}"
    else:
        body = _nginx_http(directory, listen, server, http)
    main = f"""
{nginx_stream_module() if stream else ""}
{f"user {user} {_group_of(user)};" if user else ""}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {peer.error_log} info;
events {{ worker_connections 256; }}
{body}
"""
    path = directory / "nginx.conf"
    path.write_text(main)
    argv = [binary, "-p", f"{directory}/", "-c", str(path), "-e", str(peer.error_log)]
    with running(peer, [*argv, "-g", "daemon off;"]):
        yield peer


def _nginx_http(directory: Path, listen: str, server: str, http: str) -> str:
    temp = "\n".join(
        f"    {kind}_temp_path {directory}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""http {{
    access_log {directory}/access.log;
{temp}
{http}
    server {{
        {listen}
        server_name localhost;
{server}
    }}
}}"""


def nginx_stream_module() -> str:
    """The ``load_module`` line of nginx's stream module; missing() when it is not installed."""
    for folder in NGINX_MODULE_DIRS:
        path = os.path.join(folder, "ngx_stream_module.so")
        if os.path.exists(path):
            return f"load_module {path};"
    return missing("nginx's stream module is not installed (Debian: libnginx-mod-stream)")


def _group_of(user: str) -> str:
    return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name


def build_venv(directory: Path, python: str = "/usr/bin/python3") -> Path:
    """A venv made with ``python`` holding a copy of this checkout, readable by www-data.

    A copy, not the checkout: the checkout may sit where www-data cannot read, and building in
    it would leave build/ behind.
    """
    if not os.access(python, os.X_OK):
        missing(f"{python} is missing (Debian's python3, the one mod_wsgi embeds)")
    source = directory / "src"
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            source.mkdir(exist_ok=True)
            shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "wsgikit", source / "wsgikit", ignore=shutil.ignore_patterns("__pycache__")
    )
    venv = directory / "venv"
    steps = [
        [python, "-m", "venv", str(venv)],
        [
            str(venv / "bin/python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            str(source),
        ],
    ]
    for argv in steps:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode:
            missing(f"cannot build the test venv ({' '.join(argv[:4])}): {proc.stderr[-2000:]}")
    make_readable(directory)
    return venv


def read_stream(url: str) -> list[tuple[float, bytes]]:
    """Each piece of a streamed response body with the time it arrived."""
    with requests.get(url, stream=True, timeout=20, headers={"Accept-Encoding": "identity"}) as r:
        r.raise_for_status()
        return [(time.monotonic(), chunk) for chunk in r.iter_content(chunk_size=None)]


Starter = Callable[..., Peer]
