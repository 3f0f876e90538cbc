"""A real Django project (tests/django_site/) served by wsgikit: request.body, POST and FILES.

Django reads a body with one ``wsgi.input.read(CONTENT_LENGTH)`` and reads nothing without
CONTENT_LENGTH, so a short read or a missing length silently truncates forms and uploads. Served
three ways: our HTTP server with a thread pool and inline (in this process), and nginx ->
``wsgikit fcgi tests.django_site.wsgi:application`` (a subprocess, as users run it).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from urllib3 import encode_multipart_formdata

from tests.body_client import post
from tests.body_contract import random_body
from tests.integration import free_port
from tests.peers.gateway_checks import nginx_params
from tests.peers.helpers import ROOT, Peer, Starter, running
from tests.servers.helpers import running as serve_in_thread

SIZES = [1000, 100_000, (1 << 20) + 1]  # around the 64 KiB reads, and over 1 MiB (spooled)
FILES = {"tiny": 1000, "small": 60_000, "medium": 100_000, "large": 3 << 20}
BIG_FILE = 20_000_000

COOKIES = 18
# What Chrome sends with a form post, cookies included: ~2 KB of header fields.
BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    "Accept-Language": "en-GB,en;q=0.9,fr;q=0.8,de;q=0.7",
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "Cache-Control": "max-age=0",
    "Origin": "https://shop.example.org",
    "Referer": "https://shop.example.org/account/profile/edit?tab=details&step=2",
    "Sec-Ch-Ua": '"Not/A)Brand";v="8", "Chromium";v="126", "Google Chrome";v="126"',
    "Sec-Ch-Ua-Mobile": "?0",
    "Sec-Ch-Ua-Platform": '"Linux"',
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-User": "?1",
    "Upgrade-Insecure-Requests": "1",
    "Cookie": "; ".join(
        f"pref_{i}={hashlib.sha256(bytes([i])).hexdigest()}" for i in range(COOKIES)
    ),
}
FORM = {
    "name": ["Zoë Ünïcode-Ñame"],
    "email": ["zoe@example.org"],
    "tags": ["a&b=c", "100% sure", "x+y"],
    "comment": [("Ünïcode, &, =, +, %20 and\r\nnew lines: " * 20)[:600]],
}


@pytest.fixture(scope="module")
def application() -> Any:
    from tests.django_site.wsgi import application as django_app  # configures Django once

    return django_app


@pytest.fixture(scope="module")
def fcgi_django(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``wsgikit fcgi tests.django_site.wsgi:application`` on a free port; its port."""
    directory = tmp_path_factory.mktemp("django-fcgi")
    peer = Peer("wsgikit fcgi", free_port(), directory, directory / "console.log")
    argv = [sys.executable, "-m", "wsgikit", "fcgi", "tests.django_site.wsgi:application"]
    argv += ["--chdir", str(ROOT), "--bind", f"127.0.0.1:{peer.port}", "--threads", "4"]
    with running(peer, argv):
        yield peer.port


@pytest.fixture(scope="module")
def django_nginx(nginx: Starter, fcgi_django: int) -> Peer:
    params = nginx_params("fastcgi_params")
    server = f"""
        client_max_body_size 32m;
        location / {{ include {params}; fastcgi_pass 127.0.0.1:{fcgi_django}; }}
    """
    return nginx(server)


NGINX = pytest.param("nginx-fcgi", marks=pytest.mark.integration)


MODES = {
    "threads": {"threads": 4},
    "inline": {"threads": 0},
    "stream": {"threads": 4, "buffer_bodies": False},
}


@pytest.fixture(scope="module", params=[*MODES, NGINX])
def site(request: pytest.FixtureRequest, application: Any) -> Iterator[str]:
    """The base URL of the Django project, served each way."""
    if request.param == "nginx-fcgi":
        yield request.getfixturevalue("django_nginx").url("").rstrip("/")
        return
    with serve_in_thread(application, **MODES[request.param]) as srv:
        yield f"http://{srv.host}:{srv.port}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("size", SIZES)
def test_request_body(site: str, size: int) -> None:
    data = random_body(size)
    got = requests.post(f"{site}/body", data=data, timeout=60).json()
    assert (got["length"], got["sha256"]) == (size, sha256(data))


# A blog post's text area: ~300 KB once percent-encoded, far past any one socket read.
ARTICLE = {**FORM, "article": [("Paragraph ünïcode & text = 100%;\r\n" * 3000)[:100_000]]}


@pytest.mark.parametrize("form", [FORM, ARTICLE], ids=["600-char-field", "100k-char-field"])
def test_urlencoded_form_with_browser_headers(site: str, form: dict[str, list[str]]) -> None:
    assert sum(len(k) + len(v) + 4 for k, v in BROWSER.items()) > 2000
    body = urlencode(form, doseq=True)
    headers = {**BROWSER, "Content-Type": "application/x-www-form-urlencoded"}
    got = requests.post(f"{site}/form", data=body, headers=headers, timeout=30).json()
    assert (got["fields"], got["cookies"]) == (form, COOKIES)


def test_multipart_files(site: str) -> None:
    files = {name: (f"{name}.bin", random_body(size)) for name, size in FILES.items()}
    got = requests.post(f"{site}/files", data=FORM, files=files, timeout=60).json()
    want = {
        name: {"name": filename, "size": len(data), "sha256": sha256(data)}
        for name, (filename, data) in files.items()
    }
    assert (got["files"], got["fields"]) == (want, FORM)


def test_multipart_20mb_file(site: str) -> None:
    data = random_body(BIG_FILE)
    files = {"upload": ("big.bin", data)}
    got = requests.post(f"{site}/files", files=files, timeout=120).json()
    assert got["files"]["upload"]["size"] == len(data)
    assert got["files"]["upload"]["sha256"] == sha256(data)


def test_chunked_upload_in_the_default_mode(application: Any) -> None:
    # The default mode reads the body before the app runs: it knows the length and must say so.
    data = random_body(300_000)
    with serve_in_thread(application) as srv:
        answer = post(srv.host, srv.port, "/body", data, chunked=True)
    assert answer.status == 200, answer.body[:300]
    got = answer.json()
    assert (got["length"], got["sha256"]) == (len(data), sha256(data))


@pytest.mark.parametrize("view", ["/body", "/files"])
def test_a_3mb_upload_with_expect_100_continue_as_curl_sends_it(site: str, view: str) -> None:
    """curl asks for a 100 before bodies over 1 MB. Thread mode used to give Django the first
    65,536 bytes of a streamed body as all of it (one short read); inline spooled it whole."""
    data = random_body(3_000_000)
    host, port = site.removeprefix("http://").rsplit(":", 1)
    if view == "/files":
        body, content_type = encode_multipart_formdata({"large": ("3mb.bin", data), "n": "x"})
    else:
        body, content_type = data, "application/octet-stream"
    answer = post(host, int(port), view, body, expect=True, headers={"Content-Type": content_type})
    assert answer.status == 200, answer.body[:300]
    got = answer.json()
    if view == "/files":
        assert got["files"]["large"]["size"] == len(data)
        assert got["files"]["large"]["sha256"] == sha256(data)
        assert got["fields"] == {"n": ["x"]}
    else:
        assert (got["length"], got["sha256"]) == (len(data), sha256(data))
