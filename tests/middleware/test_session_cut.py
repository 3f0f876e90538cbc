"""A server-side session save that fails at the end of a streamed response cuts the response: over
a real server socket the client sees it incomplete (short of its Content-Length, or without the
last chunk), never a complete 200. The store breaks while the body streams: redis-server killed,
the SQLite database turned read-only, or locked by another connection."""

from __future__ import annotations

import http.client
import logging
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.middleware.session_helpers import TEXT, mw
from tests.servers.helpers import running
from wsgikit.middleware.sessions import RedisStore, ServerStore, SQLiteStore
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

BODY = [b"first;", b"second;", b"last"]


class Stream:
    """An app that changes the session, then streams BODY; it stops after the first chunk until
    the test has broken the store."""

    def __init__(self, framing: str) -> None:
        self.framing = framing
        self.streaming = threading.Event()
        self.go_on = threading.Event()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["wsgikit.session"]["user"] = "alice"  # a save is due at the end of the body
        headers = list(TEXT)
        if self.framing == "length":
            headers.append(("Content-Length", str(sum(map(len, BODY)))))
        start_response("200 OK", headers)
        return self.chunks()

    def chunks(self) -> Iterator[bytes]:
        yield BODY[0]
        self.streaming.set()
        assert self.go_on.wait(10)
        yield from BODY[1:]


def fetch_while_breaking(app: WSGIApplication, stream: Stream, breaks: Callable[[], None]) -> bytes:
    """GET / from the real server, break the store once the body streams; the bytes read."""
    with running(app) as server:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        try:
            conn.request("GET", "/")
            assert stream.streaming.wait(10)
            breaks()
            stream.go_on.set()
            response = conn.getresponse()
            assert response.status == 200
            with pytest.raises(http.client.IncompleteRead) as cut:
                response.read()
            return cut.value.partial
        finally:
            conn.close()


def run_case(
    store: ServerStore, framing: str, breaks: Callable[[], None], caplog: pytest.LogCaptureFixture
) -> bytes:
    stream = Stream(framing)
    with caplog.at_level(logging.ERROR, "wsgikit.sessions"):
        partial = fetch_while_breaking(mw(stream, store=store), stream, breaks)
    assert "session not saved, the response is cut short" in caplog.text
    return partial


FRAMINGS = [pytest.param("length", id="content-length"), pytest.param("chunked", id="chunked")]


@pytest.mark.integration
@pytest.mark.parametrize("framing", FRAMINGS)
def test_redis_killed_mid_stream_cuts_the_response(
    own_redis: tuple[subprocess.Popen[bytes], str],
    framing: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proc, url = own_redis
    store = RedisStore(url, timeout=1)

    def kill() -> None:
        proc.kill()
        proc.wait(timeout=10)

    try:
        partial = run_case(store, framing, kill, caplog)
    finally:
        store.close()
    assert b"last" not in partial and "Redis session store" in caplog.text


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "sessions.db", timeout=0.2)
    yield store
    store.close()


@pytest.mark.parametrize("framing", FRAMINGS)
def test_sqlite_read_only_mid_stream_cuts_the_response(
    sqlite_store: SQLiteStore, framing: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Tests run as root, whom file modes do not stop: the connection is made read-only instead,
    # which fails writes the same way (SQLITE_READONLY).
    conn = sqlite_store._connection()

    def read_only() -> None:
        conn.execute("PRAGMA query_only = ON")

    partial = run_case(sqlite_store, framing, read_only, caplog)
    assert b"last" not in partial and "readonly" in caplog.text


@pytest.mark.parametrize("framing", FRAMINGS)
def test_sqlite_locked_mid_stream_cuts_the_response(
    sqlite_store: SQLiteStore, framing: str, caplog: pytest.LogCaptureFixture
) -> None:
    sqlite_store.purge()  # creates the file and its table
    other = sqlite3.connect(sqlite_store.path, isolation_level=None)

    def lock() -> None:
        other.execute("BEGIN IMMEDIATE")  # another process's write transaction

    try:
        partial = run_case(sqlite_store, framing, lock, caplog)
    finally:
        other.close()
    assert b"last" not in partial and "locked" in caplog.text
