"""``OPTIONS *`` through the HTTP server into a Dispatcher: PATH_INFO "*" is routed sensibly.

The server passes the asterisk-form target as PATH_INFO "*" (as gunicorn and waitress do), which
matches no mounted prefix: the root mount answers it, and without a root mount it is a 404, never
a 500. The apps run unvalidated: wsgiref.validate refuses a PATH_INFO that does not start with "/".
"""

from __future__ import annotations

import http.client
import json

import pytest

from tests.middleware.test_dispatch import named
from tests.servers.helpers import running
from wsgikit.middleware.dispatch import Dispatcher
from wsgikit.types import WSGIApplication


def options_star(app: WSGIApplication) -> tuple[int, bytes]:
    with running(app, validate=False) as srv:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
        try:
            conn.request("OPTIONS", "*", headers={"Host": "example.com"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


@pytest.mark.parametrize(
    "root",
    [pytest.param("/", id="any-host"), pytest.param("http://example.com/", id="host-mount")],
)
def test_the_root_mount_gets_path_info_star(root: str) -> None:
    status, body = options_star(Dispatcher({root: named("root"), "/admin": named("admin")}))
    assert (status, json.loads(body)) == (200, {"app": "root", "script": "", "path": "*"})


def test_without_a_root_mount_it_is_a_404() -> None:
    status, _body = options_star(Dispatcher({"/admin": named("admin")}))
    assert status == 404
