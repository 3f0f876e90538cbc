"""Every __all__ is sorted, complete and importable; packages re-export their modules' APIs."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import wsgikit

PACKAGE = Path(wsgikit.__file__).parent

# The top-level package re-exports the user-facing core API from these modules.
TOP_LEVEL_FROM = ["wsgikit.compose", "wsgikit.lint", "wsgikit.loader", "wsgikit.testing"]


def all_modules() -> list[str]:
    names = ["wsgikit"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="wsgikit."):
        if info.name != "wsgikit.__main__":
            names.append(info.name)
    return sorted(names)


def public_modules() -> list[str]:
    return [n for n in all_modules() if not any(p.startswith("_") for p in n.split(".")[1:])]


def defined_public_names(module: ModuleType) -> set[str]:
    """Public functions and classes defined (not imported) at the top of a module's source."""
    path = Path(module.__file__ or "")
    if path.suffix != ".py":  # compiled with mypyc (setup.py): its source is in the package
        path = PACKAGE.parent.joinpath(*module.__name__.split(".")).with_suffix(".py")
    source = path.read_text(encoding="utf-8")
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
            names.add(node.name)
    return names


@pytest.mark.parametrize("name", public_modules())
def test_public_module_has_sorted_all(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"


@pytest.mark.parametrize("name", all_modules())
def test_all_names_are_importable(name: str) -> None:
    module = importlib.import_module(name)
    for attr in getattr(module, "__all__", []):
        assert hasattr(module, attr), f"{name}.__all__ names {attr!r}, which is missing"


@pytest.mark.parametrize("name", public_modules())
def test_all_is_complete(name: str) -> None:
    module = importlib.import_module(name)
    missing = defined_public_names(module) - set(getattr(module, "__all__", []))
    assert not missing, f"{name} defines public {sorted(missing)} but leaves them out of __all__"


def test_middleware_package_reexports_every_middleware() -> None:
    package = importlib.import_module("wsgikit.middleware")
    for info in pkgutil.walk_packages(package.__path__, prefix="wsgikit.middleware."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        module = importlib.import_module(info.name)
        for attr in getattr(module, "__all__", []):
            assert attr in package.__all__, f"wsgikit.middleware does not re-export {attr}"
            assert getattr(package, attr) is getattr(module, attr)


@pytest.mark.parametrize("name", TOP_LEVEL_FROM)
def test_top_level_reexports_core_api(name: str) -> None:
    module = importlib.import_module(name)
    for attr in module.__all__:
        assert attr in wsgikit.__all__, f"wsgikit does not re-export {name}.{attr}"
        assert getattr(wsgikit, attr) is getattr(module, attr)
