"""The request parser's state machine: the TRANSITIONS table of wsgikit._http11 against what its
READERS (and the whole-head short cut) actually do over the vector corpus.

Every reader is wrapped to record each step (state, next state, the events it queued) while the
corpus is fed whole, byte by byte, split in two and followed by a next request. A step that keeps
the state and uses up the bytes is waiting for more, not a transition.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.http11_vectors import VALID, VECTORS
from wsgikit._http11 import (
    END_OF_MESSAGE,
    HEADERS,
    READERS,
    START,
    STATE_NAMES,
    TRANSITIONS,
    Event,
    ProtocolError,
    Reader,
    RequestHead,
    RequestParser,
)

Step = tuple[int, int, tuple[str, ...]]  # state, next state, kinds of the events queued
NEXT = b"GET /next HTTP/1.1\r\nHost: n\r\n\r\n"


def kinds(events: list[Event]) -> tuple[str, ...]:
    return tuple(
        "head" if isinstance(e, RequestHead) else "end" if e is END_OF_MESSAGE else "bytes"
        for e in events
    )


def inputs() -> Iterator[list[bytes]]:
    for _, raw, _ in VECTORS:
        yield [raw]
        yield [raw[i : i + 1] for i in range(len(raw))]
        yield [raw[: len(raw) // 2], raw[len(raw) // 2 :]]
    for _, raw, _ in VALID:
        yield [raw + NEXT]
        yield [raw, NEXT]


def run(chunks: list[bytes]) -> None:
    parser = RequestParser()
    try:
        for chunk in chunks:
            parser.feed(chunk)
        parser.feed_eof()
    except ProtocolError:
        pass


def traced(state: int, reader: Reader, seen: set[Step]) -> Reader:
    """``reader``, recording each step that is a transition into ``seen``."""

    def read(parser: RequestParser, buf: bytes, pos: int, events: list[Event]) -> tuple[int, int]:
        before = len(events)
        nxt, end = reader(parser, buf, pos, events)
        if (nxt, end) != (state, len(buf)):  # else the bytes ran out: a wait, not a transition
            seen.add((state, nxt, kinds(events[before:])))
        return nxt, end

    return read


@pytest.fixture(scope="module")
def steps() -> set[Step]:
    """The transitions the parser takes over the corpus, the whole-head short cut included."""
    seen: set[Step] = set()
    whole = RequestParser._whole_head

    def whole_head(parser: RequestParser, data: bytes, events: list[Event]) -> bool:
        before = len(events)
        done = whole(parser, data, events)
        if done:  # START and HEADERS in one step
            seen.add((START, HEADERS, ()))
            seen.add((HEADERS, parser._state, kinds(events[before:])))
        return done

    with pytest.MonkeyPatch.context() as mp:
        for state, reader in list(READERS.items()):
            mp.setitem(READERS, state, traced(state, reader, seen))
        mp.setattr(RequestParser, "_whole_head", whole_head)
        for chunks in inputs():
            run(chunks)
    return seen


def table() -> set[tuple[int, int]]:
    return {(state, nxt) for state, row in TRANSITIONS.items() for nxt in row.values()}


def label(state: int, nxt: int) -> str:
    (event,) = [event for event, to in TRANSITIONS[state].items() if to == nxt]
    return event


def test_every_state_has_a_row_a_reader_and_a_name() -> None:
    assert set(TRANSITIONS) == set(READERS) == set(range(len(STATE_NAMES)))


def test_a_row_names_each_next_state_once() -> None:
    # so (state, next state) names one event, which is what the tracing below can see
    for row in TRANSITIONS.values():
        assert len(set(row.values())) == len(row)


def test_every_transition_taken_is_in_the_table(steps: set[Step]) -> None:
    taken = {(state, nxt) for state, nxt, _ in steps}
    extra = sorted((STATE_NAMES[a], STATE_NAMES[b]) for a, b in taken - table())
    assert not extra


def test_every_table_entry_is_taken(steps: set[Step]) -> None:
    taken = {(state, nxt) for state, nxt, _ in steps}
    missing = sorted((STATE_NAMES[a], STATE_NAMES[b]) for a, b in table() - taken)
    assert not missing


def test_a_message_ends_exactly_where_the_table_says(steps: set[Step]) -> None:
    for state, nxt, out in steps:
        ends = "END_OF_MESSAGE" in label(state, nxt)
        assert (out[-1:] == ("end",)) == ends, (STATE_NAMES[state], STATE_NAMES[nxt], out)
        assert out.count("end") == ends


def test_a_head_is_queued_on_leaving_headers_only(steps: set[Step]) -> None:
    for state, nxt, out in steps:
        assert (out[:1] == ("head",)) == (state == HEADERS), (state, nxt, out)
