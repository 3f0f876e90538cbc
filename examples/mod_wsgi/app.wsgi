"""wsgikit under Apache mod_wsgi: two small apps mounted by a Dispatcher, in the core middleware.

mod_wsgi imports this file and serves its ``application`` (apache.conf and README.md beside it
say how). The stack, outermost first: ErrorMiddleware (a 500 page; the traceback goes to Apache's
error log) around a Dispatcher that mounts the site at ``/`` (sessions, error documents,
Content-Length, gzip) and a JSON API at ``/api`` (streams, so it is left unbuffered)::

    WSGIScriptAlias /app /srv/wsgikit/app.wsgi
    curl http://localhost/app/api/info     # {"script_name": "/app/api", "path_info": "/info", ...}

The session secret is shared by every daemon process, so it lives in a file: ``secret.key``
beside this file, or the file named by ``WSGIKIT_SECRET_FILE``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pwd
import sys
import time
from collections.abc import Iterable, Iterator
from urllib.parse import parse_qs

from wsgikit import pipeline
from wsgikit.middleware import (
    ContentLengthMiddleware,
    Dispatcher,
    ErrorDocuments,
    ErrorMiddleware,
    GzipMiddleware,
    SessionMiddleware,
)
from wsgikit.types import StartResponse, WSGIEnvironment

# mod_wsgi sends the process's stderr to Apache's error log: ErrorMiddleware's tracebacks too.
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s: %(message)s")

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET_FILE = os.environ.get("WSGIKIT_SECRET_FILE") or os.path.join(HERE, "secret.key")


def read_secret(path: str) -> str:
    try:
        with open(path, encoding="ascii") as file:
            return file.read().strip()
    except OSError as exc:
        raise RuntimeError(
            f"cannot read the session secret {path}: {exc.strerror}. Create it with: "
            f"python3 -c 'import secrets; print(secrets.token_hex(32))' > {path}"
        ) from None


def text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [body.encode()]


def send_json(start_response: StartResponse, status: str, data: object) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(data).encode()]


def site(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The home page, with a visit counter kept in the session; everything else is a 404."""
    path = environ.get("PATH_INFO") or "/"
    if path == "/not-found":  # ErrorDocuments fetches this page for every 404 of the site
        return text(start_response, "200 OK", "Nothing here. The home page is one level up.\n")
    if path != "/":
        return text(start_response, "404 Not Found", "not found\n")
    session = environ["wsgikit.session"]
    session["visits"] = session.get("visits", 0) + 1
    root = environ.get("SCRIPT_NAME", "")
    return text(
        start_response,
        "200 OK",
        f"Hello from wsgikit in process {os.getpid()}.\n"
        f"Visits in this session: {session['visits']}\n"
        f"The API is at {root}/api/info\n",
    )


def api(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """/info: what the app sees; /echo: digest of a POST body; /ticks: a streamed response."""
    path = environ.get("PATH_INFO", "")
    if path == "/info":
        keys = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD")
        info: dict[str, object] = {key.lower(): environ.get(key, "") for key in keys}
        for flag in ("url_scheme", "multithread", "multiprocess", "run_once"):
            info[flag] = environ[f"wsgi.{flag}"]
        info["pid"] = os.getpid()
        info["user"] = pwd.getpwuid(os.getuid()).pw_name  # www-data under Debian's Apache
        info["process_group"] = environ.get("mod_wsgi.process_group")  # "" in embedded mode
        info["headers"] = sorted(key for key in environ if key.startswith("HTTP_"))
        return send_json(start_response, "200 OK", info)
    if path == "/echo":
        if environ["REQUEST_METHOD"] != "POST":
            start_response(
                "405 Method Not Allowed", [("Content-Type", "text/plain"), ("Allow", "POST")]
            )
            return [b"POST a body to get its length and SHA-256\n"]
        digest, left = hashlib.sha256(), int(environ.get("CONTENT_LENGTH") or 0)
        length = 0
        while left > 0 and (chunk := environ["wsgi.input"].read(min(left, 65536))):
            digest.update(chunk)
            length += len(chunk)
            left -= len(chunk)
        return send_json(start_response, "200 OK", {"length": length, "sha256": digest.hexdigest()})
    if path == "/ticks":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        try:
            count = min(int(query.get("n", ["5"])[0]), 100)
            interval = min(float(query.get("interval", ["1"])[0]), 5.0)
        except ValueError:
            return send_json(
                start_response, "400 Bad Request", {"error": "n and interval are numbers"}
            )
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return ticks(count, interval)
    if path == "/fail":
        raise RuntimeError("the /api/fail route fails on purpose")
    return send_json(start_response, "404 Not Found", {"error": f"no route {path}"})


def ticks(count: int, interval: float) -> Iterator[bytes]:
    """One line every ``interval`` seconds: mod_wsgi sends each as it is yielded."""
    for number in range(count):
        if number:
            time.sleep(interval)
        yield f"tick {number}\n".encode()


application = pipeline(
    ErrorMiddleware,  # outermost: logs every exception, answers a 500 page without details
    app=Dispatcher(
        {
            "/": pipeline(
                GzipMiddleware,
                ContentLengthMiddleware,  # small pages get a Content-Length: keep-alive survives
                functools.partial(ErrorDocuments, documents={404: "/not-found"}),
                functools.partial(SessionMiddleware, secret=read_secret(SECRET_FILE)),
                app=site,
            ),
            "/api": api,
        }
    ),
)
