"""The middleware benchmarks of issue 4, in one run: gzip, dispatch, sessions, the idle stack.

Each part measures wsgikit against its peers (paste, werkzeug, beaker) in the same process and
prints ratios; pin it to one core for steadier figures::

    taskset -c 0 python benchmarks/middleware.py

Needs the peers: pip install -e '.[bench]'.
"""

from __future__ import annotations

import sys

import middleware_dispatch
import middleware_gzip
import middleware_sessions
import middleware_stack


def main() -> None:
    print(f"# benchmarks/middleware.py — Python {sys.version.split()[0]}")
    print("\n# gzip: GzipMiddleware vs paste.gzipper on 100 KiB HTML")
    middleware_gzip.main([])
    print("\n# dispatch: 1,000 mounts, deepest hit")
    middleware_dispatch.main([])
    print("\n# sessions: cookie session read + write round trip")
    saved, sys.argv = sys.argv, [sys.argv[0]]
    try:
        middleware_sessions.main()
    finally:
        sys.argv = saved
    middleware_stack.main([])


if __name__ == "__main__":
    main()
