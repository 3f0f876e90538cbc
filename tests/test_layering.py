"""The import rules of DESIGN.md "Layering", checked by an ast scan of every module in wsgikit/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "wsgikit"
IO_MODULES = {"socket", "select", "selectors", "signal", "subprocess", "multiprocessing", "asyncio"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, package: str) -> set[str]:
    """Every module the source imports, relative ones resolved, at any depth."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def imports(path: Path) -> set[str]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package)


def top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


ALL_FILES = sorted(PACKAGE.rglob("*.py"))
CORE = [p for p in ALL_FILES if p.parent == PACKAGE]
MIDDLEWARE = [p for p in ALL_FILES if "middleware" in p.relative_to(PACKAGE).parts]
SERVERS = [p for p in ALL_FILES if "servers" in p.relative_to(PACKAGE).parts]


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(PACKAGE)) for p in paths]


def test_the_scan_sees_the_package() -> None:
    assert len(CORE) >= 5
    assert SERVERS


@pytest.mark.parametrize("path", CORE + MIDDLEWARE, ids=ids(CORE + MIDDLEWARE))
def test_core_and_middleware_do_no_io(path: Path) -> None:
    assert not top(imports(path)) & IO_MODULES, f"{path.name} imports I/O modules"


@pytest.mark.parametrize("path", MIDDLEWARE, ids=ids(MIDDLEWARE))
def test_middleware_never_imports_servers(path: Path) -> None:
    assert not {n for n in imports(path) if n.startswith("wsgikit.servers")}


@pytest.mark.parametrize("path", SERVERS, ids=ids(SERVERS))
def test_servers_never_import_middleware(path: Path) -> None:
    assert not {n for n in imports(path) if n.startswith("wsgikit.middleware")}


def test_scan_catches_nested_and_aliased_imports() -> None:
    # The checker itself must be able to fail.
    source = "def f():\n    import selectors as s\n    from socket import socket\n"
    assert top(imports_in(source, "wsgikit")) & IO_MODULES == {"selectors", "socket"}


def test_scan_resolves_relative_imports() -> None:
    found = imports_in("from ..servers import selector\nfrom . import gzip\n", "wsgikit.middleware")
    assert {"wsgikit.servers.selector", "wsgikit.middleware.gzip"} <= found
