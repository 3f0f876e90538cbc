"""Load a WSGI application from a spec string, as ``wsgikit serve SPEC`` does.

Forms: ``"pkg.mod:app"``, ``"pkg.mod:obj.attr"``, ``"pkg.mod:create_app('cfg.toml', debug=True)"``
(the arguments are parsed with :mod:`ast` and must be literals: nothing is ever evaluated),
``"pkg.mod"`` (its ``application`` attribute, as gunicorn and mod_wsgi default to, else ``app`` as
Flask apps name it), and ``"config:app.ini#main"`` (PasteDeploy). A spec is trusted like a command
line: it may name any callable. Every failure is a :class:`LoadError` with a one-line message::

    prepare_sys_path(chdir=None, pythonpath=[])   # the current directory first on sys.path
    app = load_app("myapp:create_app(debug=True)")
"""

from __future__ import annotations

import ast
import configparser
import importlib
import inspect
import os
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any, cast

import paste.deploy

from wsgikit.types import WSGIApplication

__all__ = ["LoadError", "load_app", "prepare_sys_path"]

_DEFAULT_NAMES = ("application", "app")
# Frames that are not the app's: import machinery, PasteDeploy, this module.
_SKIP = (os.path.dirname(importlib.__file__), os.path.dirname(paste.deploy.__file__), __file__)


class LoadError(Exception):
    """The app could not be loaded. ``str()`` is one line naming the spec and the reason."""


def load_app(spec: str, *, relative_to: str | None = None) -> WSGIApplication:
    """Import or build the app ``spec`` names; relative ini paths are resolved against
    ``relative_to`` (default: the current directory). Raises :class:`LoadError`."""
    if not isinstance(spec, str):
        raise LoadError(f"cannot load {spec!r}: a spec must be a str, got {type(spec).__name__}")
    text = spec.strip()
    if text.startswith("config:"):
        return _load_paste(spec, text.removeprefix("config:"), relative_to)
    return _load_python(spec, text)


def prepare_sys_path(*, chdir: str | None, pythonpath: Sequence[str]) -> None:
    """Change to ``chdir`` (if given), then put the ``pythonpath`` entries, in order, and the
    current directory at the front of ``sys.path`` (as gunicorn and waitress-serve do, so that
    ``wsgikit serve myapp:app`` works from the app's folder). Raises :class:`LoadError`."""
    if chdir:
        try:
            os.chdir(chdir)
        except OSError as exc:
            raise LoadError(f"cannot change directory to {chdir!r}: {exc.strerror}") from None
    cwd = os.getcwd()
    front = []
    for entry in [*pythonpath, cwd]:
        path = os.path.abspath(entry)
        if not os.path.isdir(path):
            raise LoadError(f"pythonpath entry {entry!r} is not a directory")
        if path not in front:
            front.append(path)
    # "" on sys.path means the current directory: it is now in `front` by its real name.
    rest = [p for p in sys.path if p and os.path.abspath(p) not in front]
    sys.path[:] = front + rest
    importlib.invalidate_caches()


def _fail(spec: str, reason: str) -> LoadError:
    return LoadError(f"cannot load {spec!r}: {_one_line(reason)}")


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text).strip()


def _describe(exc: BaseException) -> str:
    """``ValueError: boom (app.py, line 3)``: where the app's own code raised it."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(("<frozen", *_SKIP))
    ]
    if frames and not isinstance(exc, SyntaxError):  # a SyntaxError names its own place
        text += f" ({os.path.basename(frames[-1].filename)}, line {frames[-1].lineno})"
    return text


def _load_python(spec: str, text: str) -> WSGIApplication:
    module_name, colon, target = (part.strip() for part in text.partition(":"))
    if not module_name:
        raise _fail(spec, "no module name before ':' (expected 'module:app')")
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        raise _fail(spec, f"{module_name!r} is a file name; give a module name such as 'myapp'")
    if not all(part.isidentifier() for part in module_name.split(".")):
        raise _fail(spec, f"{module_name!r} is not a module name")
    if not colon:
        module = _import(spec, module_name)
        for name in _DEFAULT_NAMES:
            if hasattr(module, name):
                app = getattr(module, name)
                return _wsgi_callable(spec, app, f"{module_name}.{name}", f"{module_name}:{name}")
        reason = f"module {module_name!r} has no 'application' or 'app' attribute"
        raise _fail(spec, f"{reason}; name the app: '{module_name}:NAME'")
    # The whole spec is checked before the module is imported: a bad spec runs no code at all.
    path, call = _parse_target(spec, target)
    module = _import(spec, module_name)
    obj = _attribute(spec, module, module_name, path)
    if call is None:
        return _wsgi_callable(
            spec, obj, f"{module_name}.{'.'.join(path)}", f"{module_name}:{target}"
        )
    args, kwargs = call
    try:
        app = obj(*args, **kwargs)
    except (Exception, SystemExit) as exc:
        raise _fail(spec, f"{target} raised {_describe(exc)}") from None
    return _wsgi_callable(spec, app, f"{target} returned", None)


def _parse_target(
    spec: str, target: str
) -> tuple[list[str], tuple[list[object], dict[str, object]] | None]:
    """``obj.attr`` → (path, None); ``factory(1, debug=True)`` → (path, (args, kwargs))."""
    if not target:
        raise _fail(spec, "nothing after ':' (expected 'module:app' or 'module:factory()')")
    try:
        node = ast.parse(target, mode="eval").body
    except SyntaxError as exc:
        raise _fail(spec, f"invalid syntax after ':': {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        raise _fail(spec, f"invalid syntax after ':': {exc}") from None
    if isinstance(node, ast.Call):
        path = _dotted(node.func)
        if path is None:
            raise _fail(spec, "only a name or dotted name may be called, e.g. 'create_app()'")
        return path, _literal_arguments(spec, target, node)
    path = _dotted(node)
    if path is None:
        raise _fail(spec, "expected 'module:name', 'module:obj.attr' or 'module:factory(...)'")
    return path, None


def _import(spec: str, module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # The module named in the spec (or a parent package) is missing, or the app's own code
        # imports something that is: the same exception, different problems.
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            hint = "is its directory on sys.path? see --chdir and --pythonpath"
            raise _fail(spec, f"no module named {missing!r} ({hint})") from None
        raise _fail(spec, f"importing {module_name!r} raised {_describe(exc)}") from None
    except (Exception, SystemExit) as exc:
        raise _fail(spec, f"importing {module_name!r} raised {_describe(exc)}") from None


def _dotted(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else [*base, node.attr]
    return None


def _literal_arguments(
    spec: str, target: str, call: ast.Call
) -> tuple[list[object], dict[str, object]]:
    """``ast.literal_eval`` on each argument node: literals only, never ``eval``."""
    args: list[object] = []
    kwargs: dict[str, object] = {}
    for node in [*call.args, *call.keywords]:
        shown = ast.get_source_segment(target, node) or ast.unparse(node)
        if isinstance(node, ast.Starred) or (isinstance(node, ast.keyword) and node.arg is None):
            raise _fail(spec, f"argument {shown} is not allowed (only literals are allowed)")
        try:
            value = ast.literal_eval(node.value if isinstance(node, ast.keyword) else node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            reason = f"argument {shown} is not a literal (only literals are allowed)"
            raise _fail(spec, reason) from None
        if isinstance(node, ast.keyword):
            kwargs[str(node.arg)] = value
        else:
            args.append(value)
    return args, kwargs


def _attribute(spec: str, module: Any, module_name: str, path: list[str]) -> Any:
    obj, where = module, module_name
    for name in path:
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise _fail(spec, f"{where} has no attribute {name!r}") from None
        except Exception as exc:
            raise _fail(spec, f"getting {where}.{name} raised {_describe(exc)}") from None
        where = f"{where}.{name}"
    return obj


def _wsgi_callable(spec: str, obj: object, what: str, factory: str | None) -> WSGIApplication:
    """Refuse what cannot be ``app(environ, start_response)`` (PEP 3333), with a hint for the
    common slip of naming a factory without calling it."""
    is_ = "" if what.endswith("returned") else " is"
    if not callable(obj):
        raise _fail(spec, f"{what}{is_} {type(obj).__name__!r}, not a WSGI application (callable)")
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # builtins and C types without a signature: trust them
        return cast(WSGIApplication, obj)
    try:
        signature.bind(object(), object())
    except TypeError:
        reason = f"{what}{is_} a callable{signature} that cannot take (environ, start_response)"
        if factory is not None:
            reason += f"; if it is an app factory, call it: '{factory}()'"
        raise _fail(spec, reason) from None
    return cast(WSGIApplication, obj)


def _load_paste(spec: str, rest: str, relative_to: str | None) -> WSGIApplication:
    path, _, name = (part.strip() for part in rest.partition("#"))
    name = name or "main"
    if not path:
        raise _fail(spec, "no file name after 'config:' (expected 'config:app.ini#main')")
    base = os.getcwd() if relative_to is None else relative_to
    full = os.path.normpath(os.path.join(base, os.path.expanduser(path)))
    if not os.path.isfile(full):
        raise _fail(spec, f"no such file: {full}")
    try:
        app = paste.deploy.loadapp("config:" + full, name=name)
    except configparser.Error as exc:
        raise _fail(spec, f"{path}: invalid ini file: {exc}") from None
    except (Exception, SystemExit) as exc:
        if type(exc) is LookupError:  # PasteDeploy's own: no such section, no 'use', bad egg name
            raise _fail(spec, str(exc)) from None
        raise _fail(spec, f"loading [{name}] from {path} raised {_describe(exc)}") from None
    return _wsgi_callable(spec, app, f"{path}#{name}", None)
