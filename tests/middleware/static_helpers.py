"""What the StaticFiles tests share: a site directory, the fall-through app, a GET helper."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from wsgikit.middleware import StaticFiles
from wsgikit.testing import Result, call_app
from wsgikit.types import StartResponse, WSGIEnvironment

CSS = b"body { color: #333; }\n" * 200  # 4,400 bytes
OLD = 1_600_000_000  # a fixed mtime: dates and ETags are known


def fallthrough(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The app behind StaticFiles: says it was reached, and which path it got."""
    body = ("app:" + environ.get("PATH_INFO", "")).encode("latin-1")
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("X-App", "yes")])
    return [body]


def write(path: Path, data: bytes, mtime: int = OLD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def site(root: Path) -> Path:
    """A static directory: CSS, JS, an image, a subdirectory, a dotfile."""
    write(root / "css" / "site.css", CSS)
    write(root / "app.js", b"console.log('hi');\n" * 50)
    write(root / "logo.png", bytes(range(256)) * 16)
    write(root / "docs" / "index.html", b"<h1>docs</h1>\n")
    write(root / ".env", b"SECRET=1\n")
    return root


def static(root: Path, **options: Any) -> StaticFiles:
    return StaticFiles(fallthrough, {"/static/": str(root)}, **options)


def get(app: Any, path: str, method: str = "GET", **headers: str) -> Result:
    """A request; headers as keyword arguments (If_None_Match=... is If-None-Match)."""
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return call_app(app, path=path, method=method, headers=named)
