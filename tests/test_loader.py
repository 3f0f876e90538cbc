"""wsgikit.loader: every spec form loads, every failure is one LoadError line naming the spec."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wsgikit.lint import LintMiddleware
from wsgikit.loader import LoadError, load_app, prepare_sys_path

WriteModule = Callable[[str, str], Path]

APP_SOURCE = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app"]

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"application"]

class Holder:
    app = staticmethod(app)

holder = Holder()
NUMBER = 42
calls = []

def create_app(*args, **kwargs):
    calls.append((args, kwargs))
    return app

def failing_factory(reason):
    raise ValueError(reason)

def make_app(debug=False):
    return app

def none_factory():
    return None

def app_factory(global_conf, **local_conf):
    return app
"""


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tmp_path as the cwd and first on sys.path; sys.path, cwd and sys.modules restored after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("wk_"):
            del sys.modules[name]


@pytest.fixture
def write_module(isolated: Path) -> WriteModule:
    def write(name: str, source: str) -> Path:
        path = isolated.joinpath(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(isolated).parents:
            if parent != Path("."):
                (isolated / parent / "__init__.py").touch()
        path.write_text(textwrap.dedent(source))
        return path

    return write


@pytest.fixture
def wk_app(write_module: WriteModule) -> str:
    write_module("wk_app", APP_SOURCE)
    return "wk_app"


def body(app: object) -> bytes:
    assert callable(app)
    return b"".join(app({}, lambda status, headers, exc_info=None: None))


# --- the spec forms ----------------------------------------------------------------------------


def test_module_colon_attribute(wk_app: str) -> None:
    assert body(load_app("wk_app:app")) == b"app"


def test_dotted_attribute_path(wk_app: str) -> None:
    assert body(load_app("wk_app:holder.app")) == b"app"


def test_module_in_a_package(write_module: WriteModule) -> None:
    write_module("wk_pkg.sub.web", APP_SOURCE)
    assert body(load_app("wk_pkg.sub.web:app")) == b"app"


def test_factory_call_gets_literal_arguments(wk_app: str) -> None:
    app = load_app("wk_app:create_app('cfg.toml', debug=True)")
    assert body(app) == b"app"
    assert sys.modules["wk_app"].calls == [(("cfg.toml",), {"debug": True})]


def test_factory_call_accepts_every_literal_kind(wk_app: str) -> None:
    load_app("wk_app:create_app(b'x', -1, 2.5, None, (1, 'a'), [1], {'k': [2]}, {3}, z=1j)")
    args, kwargs = sys.modules["wk_app"].calls[0]
    assert args == (b"x", -1, 2.5, None, (1, "a"), [1], {"k": [2]}, {3})
    assert kwargs == {"z": 1j}


def test_factory_call_without_arguments(wk_app: str) -> None:
    assert body(load_app("wk_app:create_app()")) == b"app"


def test_module_alone_prefers_application(wk_app: str) -> None:
    assert body(load_app("wk_app")) == b"application"


def test_module_alone_falls_back_to_app(write_module: WriteModule) -> None:
    write_module("wk_flaskish", "def app(environ, start_response):\n    return [b'flask']\n")
    assert body(load_app("wk_flaskish")) == b"flask"


def test_spec_surrounded_by_blanks(wk_app: str) -> None:
    assert body(load_app("  wk_app : app  ")) == b"app"


def write_ini(directory: Path, text: str, name: str = "app.ini") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


MAIN_INI = """
[app:main]
use = call:wk_app:app_factory

[app:other]
use = call:wk_app:app_factory
"""


def test_config_ini_main_section(wk_app: str, isolated: Path) -> None:
    write_ini(isolated, MAIN_INI)
    assert body(load_app("config:app.ini")) == b"app"


def test_config_ini_named_section(wk_app: str, isolated: Path) -> None:
    write_ini(isolated, MAIN_INI)
    assert body(load_app("config:app.ini#other")) == b"app"


def test_config_relative_to_directory(
    wk_app: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("conf dir")
    write_ini(elsewhere, MAIN_INI)
    assert body(load_app("config:app.ini#main", relative_to=str(elsewhere))) == b"app"


def test_config_absolute_path(wk_app: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    ini = write_ini(tmp_path_factory.mktemp("abs"), MAIN_INI)
    assert body(load_app(f"config:{ini}")) == b"app"


def test_config_pipeline_with_egg_wsgikit_lint(wk_app: str, isolated: Path) -> None:
    write_ini(
        isolated,
        """
        [pipeline:main]
        pipeline = egg:wsgikit#lint app

        [app:app]
        use = call:wk_app:app_factory
        """,
    )
    app = load_app("config:app.ini")
    assert isinstance(app, LintMiddleware)


LINT_FILTER_INI = """
[filter-app:main]
use = egg:wsgikit#lint
next = app
{option}

[app:app]
use = call:wk_app:app_factory
"""


def test_lint_filter_option_allow_head_body(wk_app: str, isolated: Path) -> None:
    write_ini(isolated, LINT_FILTER_INI.format(option="allow_head_body = yes"))
    app = load_app("config:app.ini")
    assert isinstance(app, LintMiddleware)
    assert app.allow_head_body is True


def test_lint_filter_bad_option_value(wk_app: str, isolated: Path) -> None:
    write_ini(isolated, LINT_FILTER_INI.format(option="allow_head_body = maybe"))
    with pytest.raises(
        LoadError, match=r"lint: option allow_head_body='maybe': expected a boolean"
    ):
        load_app("config:app.ini")


def test_lint_filter_refuses_options(wk_app: str, isolated: Path) -> None:
    write_ini(isolated, LINT_FILTER_INI.format(option="strict = yes"))
    with pytest.raises(
        LoadError, match=r"lint: unknown option 'strict' \(options: allow_head_body"
    ):
        load_app("config:app.ini")


# --- errors: one line, naming the spec ---------------------------------------------------------

BROKEN_MODULES = {
    "wk_missing_dep": "import wk_no_such_dependency\n",
    "wk_raises": "x = 1\nraise ValueError('boom at import')\n",
    "wk_syntax": "def app(:\n    pass\n",
    "wk_exits": "import sys\nsys.exit(3)\n",
    "wk_no_app": "handler = None\n",
    "wk_bad_getattr": "def __getattr__(name):\n    raise RuntimeError('lazy ' + name)\n",
}

ERRORS = [
    pytest.param("wk_nope:app", "no module named 'wk_nope' (is its directory", id="missing-module"),
    pytest.param("wk_app.nope:app", "no module named 'wk_app.nope'", id="missing-submodule"),
    pytest.param(
        "wk_missing_dep:app",
        "importing 'wk_missing_dep' raised ModuleNotFoundError: No module named "
        "'wk_no_such_dependency' (wk_missing_dep.py, line 1)",
        id="import-error-inside-the-app",
    ),
    pytest.param(
        "wk_raises:app",
        "importing 'wk_raises' raised ValueError: boom at import (wk_raises.py, line 2)",
        id="exception-at-import",
    ),
    pytest.param("wk_syntax:app", "raised SyntaxError: ", id="syntax-error-in-module"),
    pytest.param(
        "wk_exits:app", "importing 'wk_exits' raised SystemExit: 3", id="sys-exit-at-import"
    ),
    pytest.param("wk_app:nope", "wk_app has no attribute 'nope'", id="missing-attribute"),
    pytest.param(
        "wk_app:holder.nope", "wk_app.holder has no attribute 'nope'", id="missing-dotted"
    ),
    pytest.param(
        "wk_bad_getattr:app",
        "getting wk_bad_getattr.app raised RuntimeError: lazy app",
        id="getattr",
    ),
    pytest.param(
        "wk_no_app",
        "module 'wk_no_app' has no 'application' or 'app' attribute; name the app",
        id="module-without-app",
    ),
    pytest.param(
        "wk_app:NUMBER", "wk_app.NUMBER is 'int', not a WSGI application", id="not-callable"
    ),
    pytest.param(
        "wk_app:make_app",
        "wk_app.make_app is a callable(debug=False) that cannot take (environ, start_response); "
        "if it is an app factory, call it: 'wk_app:make_app()'",
        id="factory-not-called",
    ),
    pytest.param(
        "wk_app:none_factory()",
        "none_factory() returned 'NoneType', not a WSGI application",
        id="factory-returns-none",
    ),
    pytest.param(
        "wk_app:failing_factory('bad config')",
        "failing_factory('bad config') raised ValueError: bad config (wk_app.py, line",
        id="factory-raises",
    ),
    pytest.param("wk_app:create_app(", "invalid syntax after ':'", id="spec-syntax-error"),
    pytest.param("wk_app:app app", "invalid syntax after ':'", id="spec-two-names"),
    pytest.param("wk_app:", "nothing after ':'", id="empty-attribute"),
    pytest.param(":app", "no module name before ':'", id="empty-module"),
    pytest.param("", "no module name before ':'", id="empty-spec"),
    pytest.param("wk-app:app", "'wk-app' is not a module name", id="bad-module-name"),
    pytest.param("wk_app.py:app", "'wk_app.py' is a file name", id="file-name"),
    pytest.param("wk_app:apps[0]", "expected 'module:name'", id="subscript"),
    pytest.param("wk_app:get()()", "only a name or dotted name may be called", id="call-a-call"),
    pytest.param("config:nope.ini", "no such file: ", id="missing-ini"),
    pytest.param("config:", "no file name after 'config:'", id="empty-ini"),
]


@pytest.mark.parametrize(("spec", "expected"), ERRORS)
def test_error_is_one_line_naming_the_spec(
    wk_app: str, write_module: WriteModule, spec: str, expected: str
) -> None:
    for name, source in BROKEN_MODULES.items():
        write_module(name, source)
    with pytest.raises(LoadError) as info:
        load_app(spec)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot load {spec!r}: ")
    assert expected in message


NOT_LITERAL = [
    pytest.param("debug=x", "argument debug=x is not a literal", id="name"),
    pytest.param("os.sep", "argument os.sep is not a literal", id="attribute"),
    pytest.param("open('f')", "argument open('f') is not a literal", id="call"),
    pytest.param("lambda: 1", "argument lambda: 1 is not a literal", id="lambda"),
    pytest.param("f'{x}'", "argument f'{x}' is not a literal", id="f-string"),
    pytest.param("[1, y]", "argument [1, y] is not a literal", id="name-in-list"),
    pytest.param("2 ** 100", "argument 2 ** 100 is not a literal", id="operator"),
    pytest.param("*args", "argument *args is not allowed", id="starred"),
    pytest.param("**kw", "argument **kw is not allowed", id="double-starred"),
]


@pytest.mark.parametrize(("argument", "expected"), NOT_LITERAL)
def test_non_literal_argument_is_refused(wk_app: str, argument: str, expected: str) -> None:
    spec = f"wk_app:create_app({argument})"
    with pytest.raises(LoadError) as info:
        load_app(spec)
    assert str(info.value) == f"cannot load {spec!r}: {expected} (only literals are allowed)"
    assert "wk_app" not in sys.modules  # refused before the module was even imported


def test_error_message_of_the_documented_example(wk_app: str) -> None:
    with pytest.raises(LoadError) as info:
        load_app("wk_app:create_app(debug=x)")
    assert str(info.value) == (
        "cannot load 'wk_app:create_app(debug=x)': argument debug=x is not a literal "
        "(only literals are allowed)"
    )


def test_spec_never_runs_code(wk_app: str, isolated: Path) -> None:
    marker = isolated / "pwned"
    spec = f"wk_app:create_app(__import__('os').system('touch {marker}'))"
    with pytest.raises(LoadError, match="is not a literal"):
        load_app(spec)
    assert not marker.exists()


def test_bad_spec_does_not_import_the_module(write_module: WriteModule, isolated: Path) -> None:
    write_module("wk_side_effect", "open('imported', 'w').close()\n")
    with pytest.raises(LoadError):
        load_app("wk_side_effect:create_app(x)")
    assert not (isolated / "imported").exists()


def test_missing_ini_section(wk_app: str, isolated: Path) -> None:
    write_ini(isolated, MAIN_INI)
    with pytest.raises(LoadError) as info:
        load_app("config:app.ini#nope")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("cannot load 'config:app.ini#nope': No section 'nope'")


def test_invalid_ini_file(isolated: Path) -> None:
    write_ini(isolated, "[app:main\nuse = x\n")
    with pytest.raises(LoadError) as info:
        load_app("config:app.ini")
    assert "\n" not in str(info.value)
    assert "app.ini: invalid ini file" in str(info.value)


def test_ini_app_factory_raises(write_module: WriteModule, isolated: Path) -> None:
    write_module("wk_bad_factory", "def factory(global_conf, **local):\n    raise KeyError('db')\n")
    write_ini(isolated, "[app:main]\nuse = call:wk_bad_factory:factory\n")
    with pytest.raises(LoadError) as info:
        load_app("config:app.ini")
    assert "loading [main] from app.ini raised KeyError: 'db' (wk_bad_factory.py, line 2)" in str(
        info.value
    )


def test_spec_must_be_a_string() -> None:
    with pytest.raises(LoadError, match="a spec must be a str, got bytes"):
        load_app(b"wk_app:app")  # type: ignore[arg-type]


# --- prepare_sys_path --------------------------------------------------------------------------


def test_current_directory_goes_first(isolated: Path) -> None:
    sys.path.remove(str(isolated))
    prepare_sys_path(chdir=None, pythonpath=[])
    assert sys.path[0] == str(isolated)


def test_chdir_changes_directory_first(isolated: Path) -> None:
    target = isolated / "site"
    target.mkdir()
    prepare_sys_path(chdir="site", pythonpath=[])
    assert os.getcwd() == str(target)
    assert sys.path[0] == str(target)


def test_pythonpath_entries_go_before_the_cwd_in_order(isolated: Path) -> None:
    (isolated / "a").mkdir()
    (isolated / "b").mkdir()
    prepare_sys_path(chdir=None, pythonpath=["a", "b"])
    assert sys.path[:3] == [str(isolated / "a"), str(isolated / "b"), str(isolated)]


def test_prepare_twice_adds_no_duplicates(isolated: Path) -> None:
    prepare_sys_path(chdir=None, pythonpath=[])
    prepare_sys_path(chdir=None, pythonpath=[])
    assert sys.path.count(str(isolated)) == 1


def test_chdir_makes_the_apps_folder_importable(isolated: Path) -> None:
    (isolated / "site").mkdir()
    (isolated / "site" / "wk_site.py").write_text(
        "def app(environ, start_response):\n    return []\n"
    )
    sys.path.remove(str(isolated))
    prepare_sys_path(chdir="site", pythonpath=[])
    assert callable(load_app("wk_site:app"))


def test_missing_chdir_is_a_load_error(isolated: Path) -> None:
    with pytest.raises(LoadError, match=r"^cannot change directory to 'nope': No such file"):
        prepare_sys_path(chdir="nope", pythonpath=[])


def test_missing_pythonpath_entry_is_a_load_error(isolated: Path) -> None:
    with pytest.raises(LoadError, match=r"^pythonpath entry 'nope' is not a directory$"):
        prepare_sys_path(chdir=None, pythonpath=["nope"])
