"""A compiled copy of wsgikit for the benchmarks: the checkout's sources, built with mypyc.

The benchmarks run wsgikit twice where it matters, as installed (pure Python unless it was
installed with ``WSGIKIT_COMPILE=1``) and compiled, so that one run compares both with the peers.
The copy lives in a temporary directory; its servers run with that directory on ``PYTHONPATH``
(ahead of the editable install)::

    with compiled_tree() as tree:          # None when mypyc or a C compiler is missing
        env = {**os.environ, "PYTHONPATH": str(tree)}
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SOURCES = ("wsgikit", "setup.py", "setup.cfg", "pyproject.toml", "README.md")


@contextlib.contextmanager
def compiled_tree() -> Iterator[Path | None]:
    """Build the checkout's wsgikit with ``WSGIKIT_COMPILE=require`` into a temporary copy."""
    with tempfile.TemporaryDirectory(prefix="wsgikit-compiled-") as directory:
        tree = Path(directory)
        for name in _SOURCES:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(
                    source, tree / name, ignore=shutil.ignore_patterns("*.so", "__pycache__")
                )
            else:
                shutil.copy2(source, tree / name)
        build = subprocess.run(
            [sys.executable, "setup.py", "build_ext", "--inplace"],
            cwd=tree,
            env={**os.environ, "WSGIKIT_COMPILE": "require"},
            capture_output=True,
            text=True,
            check=False,
        )
        if build.returncode:
            reason = (build.stderr.strip().splitlines() or ["?"])[-1]
            print(f"(no compiled build: {reason})", file=sys.stderr)
            yield None
            return
        yield tree


def describe(tree: Path | None) -> str:
    """What ``wsgikit --version`` says with ``tree`` first on the path (None: as installed)."""
    env = {**os.environ}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    out = subprocess.run(
        [sys.executable, "-m", "wsgikit", "--version"],
        cwd=tempfile.gettempdir(),  # not the checkout: -m would find its wsgikit first
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()
