"""The session stores on their own: MemoryStore, SQLiteStore (real files, a second process) and
RedisStore (a real redis-server from conftest.py), plus CookieStore's size limit."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wsgikit.middleware.sessions import (
    CookieStore,
    MemoryStore,
    RedisStore,
    ServerStore,
    SessionTooLargeError,
    SQLiteStore,
    StoreUnavailableError,
)

SID = "A" * 43
OTHER = "B" * 43
PAYLOAD = '{"user":42}'


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerStore]:
    made: ServerStore
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "sessions.db")
    else:
        made = RedisStore(request.getfixturevalue("redis_url"), prefix=f"t:{uuid.uuid4().hex}:")
    yield made
    made.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    made = SQLiteStore(tmp_path / "sessions.db")
    yield made
    made.close()


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the wall clock the stores read ``seconds`` ahead."""
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + seconds)


# --- every server-side store ---------------------------------------------------------------------
def test_saved_payload_loads_back(store: ServerStore) -> None:
    store.save(SID, PAYLOAD, 60)
    assert store.load(SID) == PAYLOAD


def test_unknown_id_loads_none(store: ServerStore) -> None:
    store.save(SID, PAYLOAD, 60)
    assert store.load(OTHER) is None


def test_save_replaces_the_record(store: ServerStore) -> None:
    store.save(SID, PAYLOAD, 60)
    store.save(SID, '{"user":7}', 60)
    assert store.load(SID) == '{"user":7}'


def test_delete_forgets_the_record(store: ServerStore) -> None:
    store.save(SID, PAYLOAD, 60)
    store.delete(SID)
    assert store.load(SID) is None


def test_deleting_an_unknown_id_is_no_error(store: ServerStore) -> None:
    store.delete(OTHER)
    assert store.load(OTHER) is None


def test_non_ascii_payload_round_trips(store: ServerStore) -> None:
    store.save(SID, '{"name":"Zoë 東京 🍣"}', 60)
    assert store.load(SID) == '{"name":"Zoë 東京 🍣"}'


def test_records_are_kept_apart_by_id(store: ServerStore) -> None:
    store.save(SID, PAYLOAD, 60)
    store.save(OTHER, "{}", 60)
    assert (store.load(SID), store.load(OTHER)) == (PAYLOAD, "{}")


@pytest.mark.parametrize("make", [MemoryStore, "sqlite"], ids=["memory", "sqlite"])
def test_expired_record_loads_none(
    make: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = MemoryStore() if make is MemoryStore else SQLiteStore(tmp_path / "s.db")
    made.save(SID, PAYLOAD, 60)
    later(monkeypatch, 61)
    try:
        assert made.load(SID) is None
    finally:
        made.close()


@pytest.mark.parametrize("make", [MemoryStore, "sqlite"], ids=["memory", "sqlite"])
def test_record_lives_until_max_age(
    make: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = MemoryStore() if make is MemoryStore else SQLiteStore(tmp_path / "s.db")
    made.save(SID, PAYLOAD, 60)
    later(monkeypatch, 59)
    try:
        assert made.load(SID) == PAYLOAD
    finally:
        made.close()


# --- MemoryStore ---------------------------------------------------------------------------------
def test_memory_purge_drops_only_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    store.save(SID, PAYLOAD, 10)
    store.save(OTHER, PAYLOAD, 100)
    later(monkeypatch, 50)
    assert (store.purge(), len(store), store.load(OTHER)) == (1, 1, PAYLOAD)


def test_memory_sweeps_expired_entries_while_saving(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    for n in range(100):
        store.save(f"{n:043d}", PAYLOAD, 10)
    later(monkeypatch, 50)
    for n in range(300):
        store.save(f"x{n:042d}", PAYLOAD, 100)
    assert len(store) == 300


# --- SQLiteStore ---------------------------------------------------------------------------------
def test_sqlite_uses_the_wal_journal(sqlite_store: SQLiteStore, tmp_path: Path) -> None:
    sqlite_store.save(SID, PAYLOAD, 60)
    with sqlite3.connect(tmp_path / "sessions.db") as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert mode == "wal"


def test_sqlite_keeps_an_expiry_column(sqlite_store: SQLiteStore, tmp_path: Path) -> None:
    before = time.time()
    sqlite_store.save(SID, PAYLOAD, 60)
    conn = sqlite3.connect(tmp_path / "sessions.db")
    expires = conn.execute("SELECT expires FROM wsgikit_sessions").fetchone()[0]
    conn.close()
    assert before + 60 <= expires <= time.time() + 60


def test_sqlite_purge_deletes_expired_rows(
    sqlite_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_store.save(SID, PAYLOAD, 10)
    sqlite_store.save(OTHER, PAYLOAD, 100)
    later(monkeypatch, 50)
    assert (sqlite_store.purge(), sqlite_store.purge(), sqlite_store.load(OTHER)) == (1, 0, PAYLOAD)


def test_sqlite_save_purges_when_the_interval_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "s.db", purge_interval=0)
    store.save(SID, PAYLOAD, 10)
    later(monkeypatch, 50)
    store.save(OTHER, PAYLOAD, 100)
    try:
        assert store.purge() == 0  # the save already swept the expired row
    finally:
        store.close()


def test_sqlite_two_stores_share_one_file(tmp_path: Path) -> None:
    first, second = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    try:
        first.save(SID, PAYLOAD, 60)
        assert second.load(SID) == PAYLOAD
    finally:
        first.close()
        second.close()


def test_sqlite_is_safe_with_another_process_writing(
    sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    child = textwrap.dedent(
        f"""
        from wsgikit.middleware.sessions import SQLiteStore
        store = SQLiteStore({str(tmp_path / "sessions.db")!r})
        for n in range(200):
            store.save("c%042d" % n, '{{"n":%d}}' % n, 60)
        store.close()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stderr=subprocess.PIPE)
    for n in range(200):  # both processes write at once: WAL and the busy timeout serialise them
        sqlite_store.save(f"p{n:042d}", f'{{"n":{n}}}', 60)
    _, errors = proc.communicate(timeout=60)
    assert proc.returncode == 0, errors.decode()
    loaded = [sqlite_store.load(f"{who}{n:042d}") for who in "cp" for n in range(200)]
    assert loaded == [f'{{"n":{n}}}' for _ in "cp" for n in range(200)]


def test_sqlite_session_ids_never_become_paths(sqlite_store: SQLiteStore, tmp_path: Path) -> None:
    sqlite_store.save("../../escape", PAYLOAD, 60)
    assert sqlite_store.load("../../escape") == PAYLOAD
    assert {p.name for p in tmp_path.iterdir()} <= {
        "sessions.db",
        "sessions.db-wal",
        "sessions.db-shm",
    }
    assert not (tmp_path.parent.parent / "escape").exists()


def test_sqlite_unopenable_file_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "missing-dir" / "s.db")
    with pytest.raises(StoreUnavailableError, match="missing-dir"):
        store.load(SID)


def test_sqlite_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "s.db").write_bytes(b"this is not an SQLite database, just text" * 100)
    store = SQLiteStore(tmp_path / "s.db")
    with pytest.raises(StoreUnavailableError):
        store.save(SID, PAYLOAD, 60)
    store.close()


def test_sqlite_lock_held_past_the_timeout_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", timeout=0.05)
    store.save(SID, PAYLOAD, 60)
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailableError, match="locked"):
            store.save(OTHER, PAYLOAD, 60)
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()


def test_sqlite_reopens_after_close(sqlite_store: SQLiteStore) -> None:
    sqlite_store.save(SID, PAYLOAD, 60)
    sqlite_store.close()
    assert sqlite_store.load(SID) == PAYLOAD


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"path": 3}, TypeError, "path", id="path-type"),
        pytest.param({"path": ""}, ValueError, "path", id="path-empty"),
        pytest.param({"table": "x; DROP TABLE y"}, ValueError, "table", id="table-injection"),
        pytest.param({"timeout": -1}, ValueError, "timeout", id="timeout-negative"),
        pytest.param({"timeout": "5"}, ValueError, "timeout", id="timeout-str"),
        pytest.param({"purge_interval": None}, ValueError, "purge_interval", id="purge-none"),
    ],
)
def test_sqlite_bad_options_are_refused(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    options: dict[str, object] = {"path": "s.db", **kwargs}
    with pytest.raises(error, match=match):
        SQLiteStore(**options)  # type: ignore[arg-type]


# --- RedisStore ----------------------------------------------------------------------------------
@pytest.mark.integration
def test_redis_sets_a_ttl_of_max_age(redis_url: str) -> None:
    import redis

    store = RedisStore(redis_url, prefix="ttl:")
    client = redis.Redis.from_url(redis_url)
    try:
        store.save(SID, PAYLOAD, 120)
        assert 110 <= client.ttl("ttl:" + SID) <= 120
    finally:
        client.close()
        store.close()


@pytest.mark.integration
def test_redis_keys_carry_the_prefix(redis_url: str) -> None:
    import redis

    store = RedisStore(redis_url, prefix="app1:")
    client = redis.Redis.from_url(redis_url)
    try:
        store.save(SID, PAYLOAD, 60)
        assert client.get("app1:" + SID) == PAYLOAD.encode()
    finally:
        client.close()
        store.close()


def test_redis_closed_port_is_unavailable_fast(closed_port: int) -> None:
    store = RedisStore(f"redis://127.0.0.1:{closed_port}/0", timeout=1)
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailableError, match=str(closed_port)):
            store.load(SID)
    finally:
        store.close()
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("url", "error"),
    [
        pytest.param("http://127.0.0.1:6379/0", ValueError, id="wrong-scheme"),
        pytest.param("redis://127.0.0.1:notaport/0", ValueError, id="bad-port"),
        pytest.param("redis://127.0.0.1:6379/0?db=x", ValueError, id="bad-db"),
        pytest.param(6379, TypeError, id="not-a-str"),
    ],
)
def test_redis_bad_urls_are_refused(url: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="url"):
        RedisStore(url)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"timeout": 0}, ValueError, id="timeout-zero"),
        pytest.param({"prefix": b"x"}, TypeError, id="prefix-bytes"),
    ],
)
def test_redis_bad_options_are_refused(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error, match=next(iter(kwargs))):
        RedisStore("redis://127.0.0.1:6379/0", **kwargs)  # type: ignore[arg-type]


def test_redis_password_stays_out_of_repr_and_errors(closed_port: int) -> None:
    store = RedisStore(f"redis://user:hunter2@127.0.0.1:{closed_port}/0")
    try:
        with pytest.raises(StoreUnavailableError) as caught:
            store.load(SID)
    finally:
        store.close()
    assert "hunter2" not in repr(store) + str(caught.value)


def test_redis_store_without_redis_py_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"wsgikit\[redis\]"):
        RedisStore()


# --- CookieStore ---------------------------------------------------------------------------------
def test_cookie_store_accepts_a_cookie_at_the_limit() -> None:
    CookieStore(max_size=100).check_size("s", "v" * 98)


def test_cookie_store_names_the_size_over_the_limit() -> None:
    with pytest.raises(SessionTooLargeError, match="100 bytes, over the 99-byte limit") as caught:
        CookieStore(max_size=99).check_size("s", "v" * 98)
    assert (caught.value.size, caught.value.limit) == (100, 99)


@pytest.mark.parametrize(
    ("size", "error"),
    [
        pytest.param(5000, ValueError, id="over-4096"),
        pytest.param(10, ValueError, id="tiny"),
        pytest.param("4093", TypeError, id="str"),
    ],
)
def test_cookie_store_bad_max_size_is_refused(size: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="max_size"):
        CookieStore(max_size=size)  # type: ignore[arg-type]


def test_server_store_is_abstract() -> None:
    with pytest.raises(TypeError):
        ServerStore()  # type: ignore[abstract]


def test_sqlite_store_closes_its_connection_when_collected(tmp_path: Path) -> None:
    import gc
    import sqlite3

    store = SQLiteStore(tmp_path / "s.db")
    store.save("a" * 43, "{}", 60)
    conn = store._conn
    assert conn is not None
    del store
    gc.collect()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")
