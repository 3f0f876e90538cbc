"""StaticFiles behind wsgikit's HTTP server, checked with requests and curl as users fetch files."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration import missing
from tests.middleware.static_helpers import CSS, fallthrough, site, write
from tests.servers.helpers import running, wait_for
from wsgikit.middleware import StaticFiles

BIG = 100 * 1024 * 1024  # a sparse file: 100 MB on the wire, a few KB on disk
TAIL = b"the end of a sparse file\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = site(tmp_path_factory.mktemp("served") / "static")
    write(base / "medium.bin", bytes(range(256)) * 1024)  # 256 KiB: sent from the file
    with open(base / "big.bin", "wb") as file:
        file.truncate(BIG - len(TAIL))
        file.seek(BIG - len(TAIL))
        file.write(TAIL)
    return base


@pytest.fixture(params=[4, 0], ids=["threads", "inline"])
def server(request: pytest.FixtureRequest, root: Path) -> Iterator[str]:
    app = StaticFiles(fallthrough, {"/static/": str(root)})
    # validate=False: wsgiref's validator wraps the body, which would hide the file_wrapper.
    with running(app, validate=False, threads=request.param) as srv:
        yield f"http://{srv.host}:{srv.port}"


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes sent by each os.sendfile call the server makes."""
    calls: list[int] = []
    real = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        sent = real(out_fd, in_fd, offset, count)
        calls.append(sent)
        return sent

    monkeypatch.setattr(os, "sendfile", counting)
    return calls


def test_a_file_through_the_server(server: str) -> None:
    response = requests.get(f"{server}/static/css/site.css", timeout=10)
    assert response.status_code == 200
    assert response.content == CSS
    assert response.headers["Content-Type"] == "text/css; charset=utf-8"


def test_a_revalidation_is_304_without_a_body(server: str) -> None:
    first = requests.get(f"{server}/static/app.js", timeout=10)
    again = requests.get(
        f"{server}/static/app.js", headers={"If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304
    assert again.content == b""


def test_a_range_through_the_server(server: str) -> None:
    response = requests.get(f"{server}/static/medium.bin", headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.content == (bytes(range(256)) * 1024)[1000:2000]
    assert response.headers["Content-Range"] == f"bytes 1000-1999/{256 * 1024}"


def test_a_large_file_is_sent_with_sendfile(server: str, sendfile_calls: list[int]) -> None:
    response = requests.get(f"{server}/static/medium.bin", timeout=10)
    assert response.content == bytes(range(256)) * 1024
    # The server records a call after os.sendfile returns: the client may have read it all first.
    assert wait_for(lambda: sum(sendfile_calls) == 256 * 1024)


def test_a_range_is_sent_with_sendfile_from_its_offset(
    server: str, sendfile_calls: list[int]
) -> None:
    response = requests.get(
        f"{server}/static/medium.bin", headers={"Range": "bytes=70000-169999"}, timeout=10
    )
    assert response.content == (bytes(range(256)) * 1024)[70000:170000]
    assert wait_for(lambda: sum(sendfile_calls) == 100000)


def test_a_100_mb_file_streams_whole(server: str) -> None:
    digest, size = hashlib.sha256(), 0
    with requests.get(f"{server}/static/big.bin", stream=True, timeout=60) as response:
        assert response.headers["Content-Length"] == str(BIG)
        for chunk in response.iter_content(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    expected = hashlib.sha256()
    for _ in range((BIG - len(TAIL)) // (1 << 20)):
        expected.update(bytes(1 << 20))
    expected.update(bytes((BIG - len(TAIL)) % (1 << 20)) + TAIL)
    assert size == BIG
    assert digest.hexdigest() == expected.hexdigest()


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    binary = shutil.which("curl")
    if binary is None:
        missing("curl is not installed (Debian package curl)")
    return subprocess.run([binary, "-s", *args], capture_output=True, timeout=30, check=True)


def test_curl_gets_several_ranges_as_multipart(server: str) -> None:
    done = curl("-r", "0-9,100-109", "-D", "-", f"{server}/static/css/site.css")
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 206")
    assert b"Content-Type: multipart/byteranges; boundary=" in head
    assert CSS[0:10] in body
    assert CSS[100:110] in body
    assert f"Content-Range: bytes 100-109/{len(CSS)}".encode() in body


def test_curl_resumes_a_download(server: str, tmp_path: Path) -> None:
    target = tmp_path / "medium.bin"
    target.write_bytes((bytes(range(256)) * 1024)[:5000])  # an interrupted download
    curl("-C", "-", "-o", str(target), f"{server}/static/medium.bin")
    assert target.read_bytes() == bytes(range(256)) * 1024


def test_curl_head(server: str) -> None:
    done = curl("-I", f"{server}/static/logo.png")
    assert done.stdout.startswith(b"HTTP/1.1 200")
    assert b"Content-Length: 4096" in done.stdout


def test_a_miss_reaches_the_app_through_the_server(server: str) -> None:
    response: Any = requests.get(f"{server}/static/nothing-here.css", timeout=10)
    assert response.status_code == 404
    assert response.text == "app:/static/nothing-here.css"


def open_files(path: Path) -> int:
    """How many of this process's descriptors are open on ``path``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}") == str(path)
    return count


def test_a_client_that_leaves_mid_download_gets_the_file_closed(server: str, root: Path) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        assert wait_for(lambda: open_files(root / "big.bin") == 1)  # mid-download
    assert wait_for(lambda: open_files(root / "big.bin") == 0, timeout=15)
