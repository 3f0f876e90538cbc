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
MIDDLEWARE_DIR = PACKAGE / "middleware"
# Private modules at the middleware root: helpers that two middleware share (DESIGN.md "Layout").
ROOT_HELPERS = sorted(p for p in MIDDLEWARE_DIR.glob("_*.py") if p.name != "__init__.py")


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
    found = imports_in("from ..servers import http\nfrom . import gzip\n", "wsgikit.middleware")
    assert {"wsgikit.servers.http", "wsgikit.middleware.gzip"} <= found


def foreign_privates(names: set[str], where: tuple[str, ...]) -> set[str]:
    """The private modules of middleware subpackages among ``names`` that a module at ``where``
    (its path parts under wsgikit/) imports from outside their subpackage."""
    found = set()
    for name in names:
        parts = name.split(".")
        if parts[:2] != ["wsgikit", "middleware"] or len(parts) < 4:
            continue
        package, module = parts[2], parts[3]
        inside = where[:2] == ("middleware", package)
        if module.startswith("_") and (MIDDLEWARE_DIR / package).is_dir() and not inside:
            found.add(".".join(parts[:4]))
    return found


def owner(path: Path) -> str | None:
    """The middleware a module of middleware/ belongs to: its subpackage, or its own name for a
    one-module middleware; None for the package root and the shared helpers."""
    first = path.relative_to(MIDDLEWARE_DIR).parts[0]
    if first.endswith(".py"):
        return None if first.startswith("_") else first.removesuffix(".py")
    return first


@pytest.mark.parametrize("path", ALL_FILES, ids=ids(ALL_FILES))
def test_middleware_private_modules_stay_in_their_subpackage(path: Path) -> None:
    where = path.relative_to(PACKAGE).parts
    assert not foreign_privates(imports(path), where), "import the subpackage's public names"


@pytest.mark.parametrize("helper", ROOT_HELPERS, ids=ids(ROOT_HELPERS))
def test_middleware_root_helpers_are_shared(helper: Path) -> None:
    name = module_name(helper)
    users = {
        owner(path)
        for path in MIDDLEWARE
        if owner(path) and any(n == name or n.startswith(f"{name}.") for n in imports(path))
    }
    assert len(users) >= 2, f"only {sorted(users)} use {helper.name}: move it into that subpackage"


def test_scan_catches_private_modules_used_from_outside() -> None:
    source = "from wsgikit.middleware.errors._page import STATUS\nfrom ..gzip import _headers\n"
    names = imports_in(source, "wsgikit.middleware.dispatch")
    assert foreign_privates(names, ("middleware", "dispatch", "middleware.py")) == {
        "wsgikit.middleware.errors._page",
        "wsgikit.middleware.gzip._headers",
    }


def test_scan_allows_own_private_modules_and_root_helpers() -> None:
    source = "from ._page import STATUS\nfrom .._request_text import request_line\n"
    names = imports_in(source, "wsgikit.middleware.errors")
    assert not foreign_privates(names, ("middleware", "errors", "middleware.py"))
