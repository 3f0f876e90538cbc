"""run_app(pausable=True): a response pauses when the sink has no room, and goes on, or is
abandoned, when the server says so; the app's iterable is closed exactly once either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.gateway_helpers import Head, Sink, Tracked, environ_for, split
from wsgikit.gateway import FileWrapper, run_app


class RoomySink(Sink):
    """A sink with room for ``room_for`` sends at a time."""

    def __init__(self, room_for: int) -> None:
        super().__init__()
        self.room_for = room_for
        self.allowed = room_for

    def room(self) -> bool:
        return len(self.sends) < self.allowed

    def more(self) -> None:
        self.allowed = len(self.sends) + self.room_for


class FileRoomSink(RoomySink):
    """sendfile gives ``piece`` bytes a call, then says the socket is full (BlockingIOError)."""

    def __init__(self, piece: int) -> None:
        super().__init__(1000)
        self.piece = piece
        self.full = False

    def sendfile(self, file: Any, offset: int, count: int) -> int:
        if self.full:
            raise BlockingIOError("socket full")
        self.full = True
        file.seek(offset)
        data = file.read(min(count, self.piece))
        self.sends.append(data)
        return len(data)


def start(app: Any, sink: Sink, pausable: bool = True) -> Any:
    head = Head()
    return run_app(
        app, environ_for(head), sink, method="GET", version=(1, 1), keep_alive=True,
        pausable=pausable,
    )  # fmt: skip


def test_a_stream_pauses_when_the_sink_has_no_room_and_resumes() -> None:
    app = Tracked([b"a", b"b", b"c", b"d", b"e"])
    sink = RoomySink(2)
    outcome = start(app, sink)
    assert outcome.paused
    assert not app.closed
    sent_before = len(sink.sends)
    sink.more()
    while outcome.paused:
        assert not outcome.resume() or not outcome.paused
        sink.more()
    assert len(sink.sends) > sent_before
    assert app.closed
    _, headers, body = split(sink.data)
    assert headers["transfer-encoding"] == "chunked"
    assert body == b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n1\r\ne\r\n0\r\n\r\n"
    assert outcome.keep_alive


def test_without_pausable_the_room_of_the_sink_is_never_asked() -> None:
    app = Tracked([b"a", b"b", b"c"])
    outcome = start(app, RoomySink(1), pausable=False)
    assert not outcome.paused
    assert app.closed


def test_an_abandoned_response_closes_the_iterable_and_is_cut() -> None:
    app = Tracked([b"a", b"b", b"c", b"d"])
    outcome = start(app, RoomySink(1))
    assert outcome.paused
    outcome.abandon()
    assert app.closed
    assert outcome.aborted
    assert not outcome.keep_alive
    assert not outcome.paused


def test_an_error_after_a_resume_cuts_the_response_and_closes() -> None:
    closed: list[bool] = []

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            yield b"one"
            yield b"two"
            raise RuntimeError("late failure")
        finally:
            closed.append(True)

    sink = RoomySink(1)
    outcome = start(app, sink)
    assert outcome.paused
    sink.more()
    while outcome.paused:
        outcome.resume()
        sink.more()
    assert closed == [True]
    assert outcome.aborted


def test_resume_of_a_finished_response_is_an_error() -> None:
    outcome = start(Tracked([b"x"]), RoomySink(10))
    assert not outcome.paused
    with pytest.raises(RuntimeError):
        outcome.resume()


def test_a_file_pauses_when_sendfile_would_block(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    sink = FileRoomSink(1000)

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return FileWrapper(path.open("rb"))

    outcome = start(app, sink)
    rounds = 0
    while outcome.paused:
        sink.full = False
        outcome.resume()
        rounds += 1
    assert rounds == 2  # 2,560 bytes in pieces of 1,000
    _, headers, body = split(sink.data)
    assert headers["content-length"] == str(len(data))
    assert body == data
