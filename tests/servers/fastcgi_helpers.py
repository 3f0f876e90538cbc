"""A FastCGI server in a thread with a client, the fixture running each test threaded and inline,
and the apps the FastCGI server tests share."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.servers import helpers
from tests.servers.fcgi_client import Client, Response
from wsgikit.servers.fastcgi import FastCGIServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_HEADER = struct.Struct("!BBHHBx")


class Running(helpers.Running):
    """A FastCGI server under test, with a FastCGI client."""

    @contextmanager
    def client(self) -> Iterator[Client]:
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            yield Client(sock)

    def exchange(self, data: bytes, rid: int = 1) -> Response:
        with self.client() as client:
            client.send(data)
            return client.response(rid)


def running(app: Any, **options: Any) -> Any:
    options.setdefault("threads", 2)
    return helpers.running(app, server_class=FastCGIServer, handle=Running, **options)


Serve = Callable[..., Any]
