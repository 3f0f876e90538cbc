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


# -- the tiers (DESIGN.md "The tiers") -------------------------------------------------------------

TIERS = {
    "codecs": {
        "_version",
        "_http11",
        "_http11_rules",
        "_fcgi",
        "_scgi",
        "_ajp",
        "_binds",
        "_forwarded_syntax",
        "_proxyproto",
        "_compiled",
    },
    "engine": {"gateway", "_environ", "_wsgi_rules", "types", "_forwarded"},
    "tooling": {"lint", "compose", "loader", "config", "_logsetup", "_zoo", "_proxy_settings"},
    "face": {"cli", "_check", "_compress", "factories", "_paste_server", "testing", "", "__main__"},
}
MAY_IMPORT = {
    "codecs": {"codecs"},
    "engine": {"codecs", "engine"},
    "tooling": {"codecs", "engine", "tooling"},
    "middleware": {"codecs", "engine", "tooling", "middleware"},
    "servers": {"codecs", "engine", "tooling", "servers"},
    "face": {"codecs", "engine", "tooling", "middleware", "servers", "face"},
}


def tier_of(module: str) -> str:
    """The tier of a wsgikit module ("wsgikit.gateway" -> "engine")."""
    parts = module.split(".")[1:]
    if parts and parts[0] in ("middleware", "servers"):
        return parts[0]
    name = parts[0] if parts else ""
    for tier, names in TIERS.items():
        if name in names:
            return tier
    raise AssertionError(f"{module} belongs to no tier: add it to TIERS and DESIGN.md")


def wsgikit_imports(path: Path) -> set[str]:
    """The wsgikit modules a file imports (``from wsgikit import x`` counts as the root)."""
    found = set()
    for name in imports(path):
        if name == "wsgikit" or name.startswith("wsgikit."):
            parts = name.split(".")
            # "wsgikit.gateway.run_app" is the module wsgikit.gateway: keep known module paths
            while len(parts) > 1 and not _is_module(parts):
                parts.pop()
            found.add(".".join(parts))
    return found


def _is_module(parts: list[str]) -> bool:
    base = PACKAGE.parent.joinpath(*parts)
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


@pytest.mark.parametrize("path", ALL_FILES, ids=ids(ALL_FILES))
def test_every_module_imports_only_its_tier_and_below(path: Path) -> None:
    own = tier_of(module_name(path))
    for name in wsgikit_imports(path):
        if name == "wsgikit" and own != "face":
            raise AssertionError(f"{path.name} imports the package root (take it from a low tier)")
        other = tier_of(name)
        assert other in MAY_IMPORT[own], f"{path.name} ({own}) imports {name} ({other})"


def test_the_tier_check_can_fail() -> None:
    assert tier_of("wsgikit.gateway") == "engine"
    assert "face" not in MAY_IMPORT["engine"]
    assert "servers" not in MAY_IMPORT["middleware"]
    with pytest.raises(AssertionError):
        tier_of("wsgikit.unplaced_module")
