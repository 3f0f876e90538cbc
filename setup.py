"""The optional compiled build: ``WSGIKIT_COMPILE=1 pip install .`` compiles the hot modules
(``wsgikit/_compiled.py`` lists them) with mypyc; the metadata is all in setup.cfg.

- unset or ``0`` (the default): pure Python, no compiler, no mypy needed;
- ``1``: compile; when that fails (no C compiler, no Python headers, a mypyc error) warn and
  install the pure package, which behaves the same, only slower;
- ``require``: compile or fail the install (CI, benchmarks).

An editable install (``pip install -e``) stays pure: compiled modules shadow their .py files, so an
edit would silently not run. ``python setup.py build_ext --inplace`` with ``WSGIKIT_COMPILE=1``
compiles in the tree on purpose: rebuild after each edit, or delete the .so files (``wsgikit
--version`` says whether modules run compiled).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

# The mypy that compiles (mypyc ships with it): pinned, as its output changes between versions.
MYPY = "mypy==2.4.1"
MODE = os.environ.get("WSGIKIT_COMPILE", "0").strip().lower()
ROOT = Path(__file__).resolve().parent


def _warn(message: str) -> None:
    print(f"wsgikit: {message}", file=sys.stderr)


def _modules() -> tuple[str, ...]:
    """wsgikit._compiled.MODULES, read without importing wsgikit (dependencies may be missing)."""
    spec = importlib.util.spec_from_file_location(
        "_wsgikit_compiled", ROOT / "wsgikit/_compiled.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.MODULES)


def _extensions() -> list[object]:
    """mypyc's extensions, or [] (pure) when it cannot compile and MODE allows falling back."""
    try:
        from mypyc.build import mypycify  # noqa: PLC0415  # only when compiling
    except ImportError:
        return []  # not installed yet: setup_requires brings it, then setup.py runs again
    paths = [str(Path(*name.split(".")).with_suffix(".py")) for name in _modules()]
    try:
        # One group, its shared library inside the package (wsgikit/_native__mypyc*.so), so the
        # install adds no top-level module.
        return list(mypycify(paths, opt_level="3", group_name="wsgikit._native"))
    except (Exception, SystemExit) as exc:
        if MODE == "require":
            raise
        _warn(f"mypyc could not compile ({exc!r}); installing pure Python")
        return []


class OptionalBuildExt(build_ext):
    """Build the compiled modules all or none: a C compiler or header missing means pure Python
    (unless WSGIKIT_COMPILE=require), and never a wheel with half the extensions."""

    def run(self) -> None:
        if getattr(self, "editable_mode", False) and MODE != "require":
            _warn("editable install: pure Python (compiled modules would hide your edits)")
            self.extensions = []
            return
        try:
            super().run()
        except Exception as exc:  # CompileError, LinkError, PlatformError, OSError...
            if MODE == "require":
                raise
            for path in self.get_outputs():
                Path(path).unlink(missing_ok=True)
            _warn(f"the compiled build failed ({exc}); installing pure Python")


if MODE in ("1", "require"):
    # Into the build environment: mypy, and what it type-checks the compiled modules against.
    setup(
        ext_modules=_extensions(),
        setup_requires=[MYPY, "httptools>=0.6"],
        cmdclass={"build_ext": OptionalBuildExt},
    )
elif MODE in ("", "0"):
    setup()
else:
    raise SystemExit(f"wsgikit: WSGIKIT_COMPILE must be 0, 1 or require, got {MODE!r}")
