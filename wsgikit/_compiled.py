"""The optional compiled build: which modules mypyc compiles, which ones are running compiled.

``WSGIKIT_COMPILE=1 pip install .`` compiles :data:`MODULES` with mypyc into C extensions
(``setup.py`` reads the list from here); any other install is pure Python, and the two behave
the same. :func:`compiled_modules` says which of them this process imported compiled
and :func:`describe` says it in ``wsgikit --version``::

    from wsgikit._compiled import compiled_modules
    compiled_modules()   # () for the pure build

``mypyc_attr`` marks what mypyc must treat specially (a class that plain Python subclasses, or
one that must stay a plain Python class). It is ``mypy_extensions.mypyc_attr`` to mypy and mypyc,
which find it by that name, and a no-op decorator at run time, so that mypy_extensions (a
build-time package) is no runtime dependency.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr
else:

    def mypyc_attr(*attrs, **kwattrs):
        return lambda thing: thing


__all__ = ["MODULES", "compiled_modules", "describe", "mypyc_attr"]

#: The hot path of a request: the parser, the engine (environ, start_response's checks), the loop
#: and the HTTP server (with its proxy-header hook). Not _forwarded: compiled, an int parameter
#: takes True as 1 and refuses "1" with mypyc's TypeError before TrustedProxies can check it.
MODULES: Final = (
    "wsgikit._http11_rules",
    "wsgikit._http11",
    "wsgikit._environ",
    "wsgikit._wsgi_rules",
    "wsgikit.gateway",
    "wsgikit.servers._connection",
    "wsgikit.servers._loop",
    "wsgikit.servers._proxied",
    "wsgikit.servers.http",
)


def compiled_modules() -> tuple[str, ...]:
    """The modules of :data:`MODULES` this process runs (or will import) as C extensions."""
    names = []
    for name in MODULES:
        spec = importlib.util.find_spec(name)  # the module's own spec once it is imported
        origin = (spec.origin if spec else None) or ""
        if not origin.endswith(".py"):
            names.append(name)
    return tuple(names)


def describe() -> str:
    """For ``wsgikit --version``: "pure Python" or "compiled with mypyc (7 of 7 modules)"."""
    names = compiled_modules()
    if not names:
        return "pure Python"
    return f"compiled with mypyc ({len(names)} of {len(MODULES)} modules)"
