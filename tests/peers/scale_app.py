"""The app tests/peers/test_scale_out.py runs in every ``wsgikit serve --workers`` instance.

It counts a client's visits in a session kept in Redis and answers ``"<instance> <count>"``, the
instance being ``SCALE_INSTANCE`` from the environment: the client sees which instance served it
and whether its session survived. ``SCALE_REDIS_URL`` and ``SCALE_SECRET`` are shared by every
instance, as they are in a real deployment (one Redis, one signing key)::

    SCALE_INSTANCE=a SCALE_REDIS_URL=redis://127.0.0.1:6379/0 SCALE_SECRET=... \\
        wsgikit serve tests.peers.scale_app:app --workers 2
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from wsgikit.middleware import RedisStore, SessionMiddleware
from wsgikit.types import StartResponse, WSGIEnvironment

INSTANCE = os.environ["SCALE_INSTANCE"]


def visits(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    session = environ["wsgikit.session"]
    session["count"] = session.get("count", 0) + 1
    body = f"{INSTANCE} {session['count']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = SessionMiddleware(
    visits,
    secret=os.environ["SCALE_SECRET"],
    store=RedisStore(os.environ["SCALE_REDIS_URL"]),
    secure=False,  # plain HTTP between the test client, nginx and the instances
)
