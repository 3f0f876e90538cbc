"""``[server:main] use = egg:wsgikit#main``: the options it takes, and a real Pyramid app under
``pserve`` fetched with curl and stopped with a signal."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from paste.deploy import loadserver

from tests.peers.helpers import missing
from tests.test_cli import read_line
from wsgikit._paste_server import server_settings
from wsgikit.config import ConfigError


def test_options_are_serve_settings() -> None:
    settings = server_settings(
        {"bind": "127.0.0.1:1 unix:/tmp/x.sock", "threads": "3", "access_log": "yes"}
    )
    assert settings["bind"] == ("127.0.0.1:1", "unix:/tmp/x.sock")
    assert (settings["threads"], settings["access_log"]) == (3, True)
    assert settings.source("threads") == "--threads"


def test_host_and_port_make_the_bind() -> None:
    assert server_settings({"host": "::1", "port": "6543"})["bind"] == ("[::1]:6543",)


def test_listen_is_waitress_name_for_bind() -> None:
    assert server_settings({"listen": "localhost:6543"})["bind"] == ("localhost:6543",)


def test_workers_is_the_serve_setting() -> None:
    assert server_settings({"workers": "2"})["workers"] == "2"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"thread": "4"}, "egg:wsgikit#main: unknown option 'thread' (did you mean 'threads'?)"),
        ({"threads": "many"}, "egg:wsgikit#main: threads = 'many': expected an integer"),
        ({"bind": "a:1", "port": "2"}, "give either bind (or listen) or host and port"),
        ({"timeout_idle": "-1"}, "egg:wsgikit#main: timeout_idle = '-1': must be >= 0.01"),
    ],
)
def test_bad_options_give_one_error_naming_the_key(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        server_settings(options)
    assert message in str(info.value)


def test_the_entry_point_is_found(tmp_path: Path) -> None:
    ini = tmp_path / "site.ini"
    ini.write_text("[server:main]\nuse = egg:wsgikit#main\nthreads = 2\n")
    assert callable(loadserver(f"config:{ini}"))


PYRAMID_APP = """
from pyramid.config import Configurator
from pyramid.response import Response

def hello(request):
    return Response("hello from pyramid, " + request.params.get("name", "?"))

def main(global_config, **settings):
    with Configurator(settings=settings) as config:
        config.add_route("hello", "/hello")
        config.add_view(hello, route_name="hello")
        return config.make_wsgi_app()
"""

INI = """
[app:main]
use = call:wk_pyramid_app:main

[server:main]
use = egg:wsgikit#main
host = 127.0.0.1
port = 0
threads = 2
"""


def pserve_curl(site: Path, ini: str) -> tuple[str, str]:
    """Run ``pserve site.ini`` (the Pyramid app, ``ini`` below INI), fetch /hello with curl,
    stop it with SIGTERM (it must exit 0): (what curl got, pserve's stderr)."""
    pserve = Path(sys.executable).with_name("pserve")
    curl = shutil.which("curl")
    if not pserve.exists() or curl is None:
        missing("pserve (pip install pyramid) or curl is not installed")
    (site / "wk_pyramid_app.py").write_text(textwrap.dedent(PYRAMID_APP))
    (site / "site.ini").write_text(INI + ini)
    proc = subprocess.Popen(
        [str(pserve), "site.ini"],
        cwd=site,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with proc:
        try:
            banner = read_line(proc)
            assert "site.ini on http://127.0.0.1:" in banner, banner + proc.stderr.read()
            port = banner.rsplit(":", 1)[1].strip()
            url = f"http://127.0.0.1:{port}/hello?name=curl"
            answer = subprocess.run(
                [curl, "-sS", url], check=True, capture_output=True, text=True, timeout=10
            )
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            return answer.stdout, proc.stderr.read()
        finally:
            proc.kill()  # nothing once it exited; the with block reaps it


@pytest.mark.integration
@pytest.mark.parametrize("workers", ["", "workers = 2\n"], ids=["one-process", "workers"])
def test_pserve_serves_a_pyramid_app_until_sigterm(tmp_path: Path, workers: str) -> None:
    # workers: the app pserve loaded, forked
    assert pserve_curl(tmp_path, workers)[0] == "hello from pyramid, curl"


LOGGERS = """[loggers]
keys = root, wsgikit

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[logger_wsgikit]
level = INFO
handlers =
qualname = wsgikit

[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic

[formatter_generic]
format = ini-format %(levelname)s [%(name)s] %(message)s
"""


@pytest.mark.integration
@pytest.mark.parametrize("loggers", [LOGGERS, ""], ids=["ini-loggers", "basicConfig"])
def test_pserve_prints_each_log_line_once(tmp_path: Path, loggers: str) -> None:
    log = pserve_curl(tmp_path, "access_log = true\n" + loggers)[1]
    assert log.count("listening on http://127.0.0.1:") == 1, log
    assert log.count('"GET /hello?name=curl HTTP/1.1" 200') == 1, log
    if loggers:  # the ini's handler and format print them
        assert "ini-format INFO [wsgikit.error] listening on" in log, log
