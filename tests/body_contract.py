"""The wsgi.input contract every server and gateway runs: an app that reads the body the way
``?mode=`` names and answers what it saw, and the checker that compares it with what was sent.

PEP 3333 ("Input and Error Streams") makes wsgi.input a file: ``read(n)`` returns n bytes unless
the body ends, and real apps read a body with ONE ``read(int(CONTENT_LENGTH))`` (Django, WebOb,
Falcon), so a server that returns less loses data silently. :func:`expected` runs the same reader
over ``io.BytesIO(body)``, the file semantics PEP 3333 asks for, so no answer is hard-coded::

    with running(contract_app, validate=False) as srv:   # wsgiref.validate refuses read()
        answer = post(srv.host, srv.port, "/?mode=read_length", body)
        check(answer.json(), body, "read_length")

Only the stdlib here: ``wsgikit cgi body_contract:contract_app`` loads a copy of this file as
www-data from a directory of its own.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

SHORT = 1000  # readline(n) smaller than most lines of LINES
LONG = 1 << 18  # readline(n) larger than every line of LINES
BLOCK = 10_000  # read(n) in a loop, as WebOb's copy_body and Werkzeug do


def _read_length(stream: Any, length: int) -> list[bytes]:
    return [stream.read(length)]  # Django's request.body: one call, trusting the server


def _read_all(stream: Any, length: int) -> list[bytes]:
    return [stream.read()]


def _read_blocks(stream: Any, length: int) -> list[bytes]:
    return list(iter(lambda: stream.read(BLOCK), b""))


def _readlines_of(size: int | None) -> Callable[[Any, int], list[bytes]]:
    def reader(stream: Any, length: int) -> list[bytes]:
        read = stream.readline if size is None else lambda: stream.readline(size)
        return list(iter(read, b""))

    return reader


def _readlines(stream: Any, length: int) -> list[bytes]:
    return list(stream.readlines())


def _iterate(stream: Any, length: int) -> list[bytes]:
    return list(stream)


def _mixed(stream: Any, length: int) -> list[bytes]:
    """A multipart parser's way: a line, then the rest by length."""
    first = stream.readline()
    return [first, stream.read(length - len(first))]


def _after_end(stream: Any, length: int) -> list[bytes]:
    """The whole body, then every kind of read past its end: each must give b"" (PEP 3333)."""
    whole = stream.read(length)
    late = [stream.read(1), stream.read(), stream.read(length or 1), stream.readline()]
    late += [stream.readline(5), b"".join(stream.readlines()), b"".join(stream)]
    return [whole, *late]


READERS: dict[str, Callable[[Any, int], list[bytes]]] = {
    "read_length": _read_length,
    "read_all": _read_all,
    "read_blocks": _read_blocks,
    "readline": _readlines_of(None),
    "readline_short": _readlines_of(SHORT),
    "readline_long": _readlines_of(LONG),
    "readlines": _readlines,
    "iterate": _iterate,
    "mixed": _mixed,
    "after_end": _after_end,
}


def report(pieces: Iterable[bytes]) -> dict[str, Any]:
    """What a reader saw: the size of each piece, their total and the sha256 of them joined."""
    pieces = list(pieces)
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece)
    return {
        "sizes": [len(p) for p in pieces],
        "length": sum(len(p) for p in pieces),
        "sha256": digest.hexdigest(),
    }


def contract_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Read wsgi.input with ``?mode=`` (a READERS key) and answer its :func:`report` as JSON,
    with the CONTENT_LENGTH and wsgi.input_terminated the server gave."""
    mode = parse_qs(environ.get("QUERY_STRING", "")).get("mode", ["read_length"])[0]
    raw = environ.get("CONTENT_LENGTH") or ""
    # What a Django-style app does: no CONTENT_LENGTH, no body (it never reads it).
    pieces = READERS[mode](environ["wsgi.input"], int(raw) if raw.strip() else 0)
    seen = report(pieces)
    seen["content_length"] = raw or None
    seen["input_terminated"] = bool(environ.get("wsgi.input_terminated"))
    body = json.dumps(seen).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def expected(body: bytes, mode: str) -> dict[str, Any]:
    """The :func:`report` of ``mode`` reading ``body`` from a real file."""
    return report(READERS[mode](io.BytesIO(body), len(body)))


def check(seen: dict[str, Any], body: bytes, mode: str) -> None:
    """The app read what a file holding ``body`` gives (``seen``: the app's JSON answer)."""
    want = expected(body, mode)
    got = {key: seen[key] for key in want}
    if got["sizes"] != want["sizes"]:  # keep the message short: 20 MB reads make long lists
        got["sizes"], want["sizes"] = _shorten(got["sizes"]), _shorten(want["sizes"])
    told = f"{len(seen['sizes'])} pieces, CONTENT_LENGTH {seen.get('content_length')!r}"
    assert got == want, f"{mode}: the app read {seen['length']} of {len(body)} bytes ({told})"


def _shorten(sizes: list[int]) -> list[int] | str:
    return sizes if len(sizes) <= 12 else f"{len(sizes)} pieces: {sizes[:6]}...{sizes[-3:]}"


def lines_body() -> bytes:
    """The contract's body: lines around the sizes servers read in (8 KiB, 64 KiB), an empty
    line, and a last line without a newline; ~270 KB, the same every run."""
    rng = random.Random(3333)
    sizes = [0, 1, 50, 8191, 8192, 8193, 65535, 65536, 65537, 100_000, 3, 0, 17]
    lines = [rng.randbytes(n).replace(b"\n", b"x") + b"\n" for n in sizes]
    return b"".join(lines) + rng.randbytes(777).replace(b"\n", b"x")


def random_body(size: int) -> bytes:
    """``size`` bytes, the same every run (a bug shows the same way twice)."""
    return random.Random(size).randbytes(size)
