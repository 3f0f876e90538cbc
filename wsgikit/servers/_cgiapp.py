"""The script side of :class:`~wsgikit.servers.cgi.CGIApplication`: one run of a CGI script.

:class:`Child` starts the script and pumps its three pipes on one selector (so a script that
answers before it has read its whole body cannot deadlock against us), :func:`read_head` and
:func:`parse_head` read its CGI response header block (RFC 3875 §6), and :class:`Response`
streams the rest of its stdout as the WSGI iterable::

    child = Child(["/srv/cgi-bin/x"], cwd="/srv/cgi-bin", env=env, body=None, length=0,
                  errors=sys.stderr, timeout=30)
    status, headers, local_redirect = parse_head(read_head(child)[0])

POSIX only: the script runs in its own session so that killing it kills its children too.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import IO, Any

from wsgikit._wsgi_rules import HOP_BY_HOP, TOKEN

__all__ = ["BadHead", "CGIError", "Child", "Response", "Timeout", "parse_head", "read_head"]

CHUNK = 65536
_MAX_HEAD = 65536  # the script's header block; Apache's limit for a header line is 8 KiB
_GRACE = 1.0  # seconds between SIGTERM and SIGKILL (Apache waits 3)
_OUT, _ERR, _IN = "stdout", "stderr", "stdin"

_token = re.compile(TOKEN.encode()).fullmatch  # RFC 9110 §5.6.2, for a CGI script's bytes
_bad_value = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]").search  # RFC 9110 §5.5: no CTLs but HTAB
_status = re.compile(r"([2-5][0-9]{2})(?:[ \t]+(.*))?").fullmatch  # RFC 3875 §6.3.3
_head_end = re.compile(rb"(?:^|\n)\r?\n")  # RFC 3875 §6.3: lines end in NL = [CR] LF
_digits = re.compile(r"[0-9]+").fullmatch
_KNOWN = frozenset(s.value for s in HTTPStatus)


class CGIError(Exception):
    """Raised from a started response's iterable when the script went silent for ``timeout``
    seconds: it was killed and its response is incomplete, so the server must cut it."""


class BadHead(Exception):
    """The script's header block is malformed, or it ended before the blank line."""


class Timeout(Exception):
    """No I/O from the script for ``timeout`` seconds."""


def read_head(child: Child) -> tuple[bytes, bytes]:
    """The header block (without the blank line) and the body bytes read after it."""
    buf = b""
    while True:
        data = child.read()
        if not data:
            raise BadHead("ended before the end of its headers")
        buf += data
        end = _head_end.search(buf)
        if (len(buf) if end is None else end.start()) > _MAX_HEAD:
            raise BadHead(f"header block over {_MAX_HEAD} bytes")
        if end is not None:
            return buf[: end.start()], buf[end.end() :]


def parse_head(block: bytes) -> tuple[str, list[tuple[str, str]], str | None]:
    """Status, headers and a local redirect's path (RFC 3875 §6.2, §6.3)."""
    status: str | None = None
    location: str | None = None
    headers: list[tuple[str, str]] = []
    for raw in block.split(b"\n") if block else ():
        line = raw.removesuffix(b"\r")
        name, sep, value = line.partition(b":")
        value = value.strip(b" \t")
        if not sep or not _token(name) or _bad_value(value):
            raise BadHead(f"malformed header line {line[:80]!r}")
        text = value.decode("latin-1").replace("\t", " ")
        key = name.lower().decode("ascii")
        if key == "status":
            match = _status(text)
            if status is not None or match is None:
                raise BadHead(f"bad or repeated Status {text[:80]!r}")
            code, reason = match.groups()
            if not reason:
                reason = HTTPStatus(int(code)).phrase if int(code) in _KNOWN else "Unknown"
            status = f"{code} {reason}"
            continue
        if key == "location":
            if location is not None:
                raise BadHead("repeated Location")
            location = text
        elif key == "content-length":
            if not _digits(text) or any(n.lower() == "content-length" for n, _ in headers):
                raise BadHead(f"bad or repeated Content-Length {text[:40]!r}")  # RFC 9110 §8.6
        elif key == "transfer-encoding":
            raise BadHead("Transfer-Encoding: a CGI body is never encoded (RFC 3875 §6.3.4)")
        elif key in HOP_BY_HOP:
            continue  # PEP 3333: connection headers are the server's business
        headers.append((name.decode("latin-1"), text))
    if location is not None and status is None:
        if location.startswith("/") and not location.startswith("//"):
            return "302 Found", [], location  # §6.2.2 local redirect: see CGIApplication
        status = "302 Found"  # §6.2.3 client redirect
    status = status or "200 OK"
    if status[:3] in ("204", "304"):
        headers = [(n, v) for n, v in headers if n.lower() != "content-type"]  # no content
    elif not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", "application/octet-stream"))
    return status, headers, None


class Response:
    """The script's body, streamed as it comes; ``close()`` kills a script still running."""

    def __init__(self, child: Child, first: bytes, log: Callable[[str], None]) -> None:
        self._child = child
        self._first = first
        self._log = log

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._first:
            data, self._first = self._first, b""
            return data
        try:
            data = self._child.read()
        except Timeout:
            self._child.close()
            self._log(f"silent for {self._child.timeout:g}s: killed mid-response")
            raise CGIError(f"the CGI script went silent for {self._child.timeout:g}s") from None
        except BaseException:
            self._child.close()
            raise
        if not data:
            self._child.close(finished=True)
            if self._child.failed():
                self._log(self._child.describe_exit().lstrip(" ;"))
            raise StopIteration
        return data

    def close(self) -> None:
        self._child.close()


class Child:
    """One run of the script, its three pipes pumped on one selector."""

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: str,
        env: dict[bytes, bytes],
        body: IO[bytes] | None,
        length: int,
        errors: Any,
        timeout: float,
    ) -> None:
        self.body = body if length else None
        self.spooled = body is not None and isinstance(body, tempfile.SpooledTemporaryFile)
        self.remaining = length
        self.pending = b""
        self.errors = errors
        self.decoder = codecs.getincrementaldecoder("utf-8")("backslashreplace")
        self.timeout = timeout
        self.closed = False
        self.killed = False
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if self.body is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own process group: killpg reaches its children
        )
        self.selector = selectors.DefaultSelector()
        for pipe, what in ((self.proc.stdout, _OUT), (self.proc.stderr, _ERR)):
            assert pipe is not None
            os.set_blocking(pipe.fileno(), False)
            self.selector.register(pipe, selectors.EVENT_READ, what)
        if self.proc.stdin is not None:
            os.set_blocking(self.proc.stdin.fileno(), False)
            self.selector.register(self.proc.stdin, selectors.EVENT_WRITE, _IN)

    def read(self) -> bytes:
        """The script's next stdout bytes, b"" at their end; stdin and stderr served meanwhile."""
        deadline = time.monotonic() + self.timeout
        while self.proc.stdout is not None and not self.proc.stdout.closed:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise Timeout
            events = self.selector.select(wait)
            if events:
                deadline = time.monotonic() + self.timeout  # an idle timeout, as Apache's
            for key, _ in events:
                if key.data == _IN:
                    self._feed()
                    continue
                try:
                    data = os.read(key.fd, CHUNK)
                except BlockingIOError:
                    continue
                if not data:
                    self._drop(key.fileobj)  # type: ignore[arg-type]
                elif key.data == _OUT:
                    return data
                else:
                    self.errors.write(self.decoder.decode(data))
                    self.errors.flush()
        return b""

    def _feed(self) -> None:
        """Write the next piece of the body to the script's stdin (non-blocking)."""
        if not self.pending:
            size = min(CHUNK, self.remaining)
            assert self.body is not None
            self.pending = self.body.read(size) if size else b""
            self.remaining -= len(self.pending)
            if not self.pending:  # all sent, or the client stopped short: EOF for the script
                self._drop(self.proc.stdin)
                return
        try:
            assert self.proc.stdin is not None
            sent = os.write(self.proc.stdin.fileno(), self.pending)
        except BlockingIOError:
            return
        except BrokenPipeError:  # RFC 3875 §4.2: the script need not read the body
            self._drop(self.proc.stdin)
            return
        self.pending = self.pending[sent:]
        if not self.pending and not self.remaining:
            self._drop(self.proc.stdin)

    def _drop(self, pipe: IO[bytes] | None) -> None:
        if pipe is not None and not pipe.closed:
            self.selector.unregister(pipe)
            pipe.close()

    def close(self, *, finished: bool = False) -> None:
        """Reap the script: after its stdout ended let it exit by itself, else kill its group."""
        if self.closed:
            return
        self.closed = True
        self._drop(self.proc.stdin)
        proc = self.proc
        try:
            proc.wait(_GRACE if finished else 0)
        except subprocess.TimeoutExpired:
            self.killed = True
            self._signal(signal.SIGTERM)
            try:
                proc.wait(_GRACE)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait()
        if proc.stderr is not None and not proc.stderr.closed:
            try:  # what it said last goes to the log too
                while data := os.read(proc.stderr.fileno(), CHUNK):
                    self.errors.write(self.decoder.decode(data))
            except BlockingIOError:
                pass
            self.errors.write(self.decoder.decode(b"", final=True))
        self._drop(proc.stdout)
        self._drop(proc.stderr)
        self.selector.close()
        if self.spooled and self.body is not None:
            self.body.close()

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
            os.killpg(self.proc.pid, signum)

    def ended(self) -> bool:
        """Its stdout reached its end."""
        return self.proc.stdout is None or self.proc.stdout.closed

    def failed(self) -> bool:
        return not self.killed and bool(self.proc.returncode)

    def describe_exit(self) -> str:
        code = self.proc.returncode
        if self.killed or not code:
            return ""
        if code < 0:
            return f"; killed by signal {-code}"
        return f"; exit status {code}"
