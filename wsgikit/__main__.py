"""``python -m wsgikit``: the same as the ``wsgikit`` command (see :mod:`wsgikit.cli`).

Use it where the console script is not on PATH, or to pick the interpreter::

    python -m wsgikit serve myapp:app --bind 127.0.0.1:8000
"""

from __future__ import annotations

from wsgikit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
