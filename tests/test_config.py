"""wsgikit.config: precedence CLI > env > file > default, and one-line errors naming the source.

Also the PasteDeploy option converters of wsgikit.factories, which share the value parsers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from wsgikit._binds import parse_bind
from wsgikit.config import (
    Config,
    ConfigError,
    Setting,
    add_arguments,
    cli_values,
    parse_size,
    resolve,
)
from wsgikit.factories import as_bool, as_float, as_int, as_list, as_size, check_options

THREADS = Setting("threads", int, 8, "worker threads", min=0)
TIMEOUT = Setting("timeout", float, 30.0, "seconds", min=0.5, max=3600)
BIND = Setting("bind", list, ("127.0.0.1:8000",), "listen on HOST:PORT", validate=parse_bind)
ACCESS_LOG = Setting("access_log", bool, True, "log requests")
NAME = Setting("name", str, None, "a name", choices=("a", "b"))
SOCKET = Setting("socket", str, None, "FastCGI socket")
SERVE = (THREADS, TIMEOUT, BIND, ACCESS_LOG, NAME)
SECTIONS = {"serve": SERVE, "fcgi": (THREADS, SOCKET)}


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # so that messages name the file as "wsgikit.toml"
    return tmp_path


def toml(directory: Path, text: str, name: str = "wsgikit.toml") -> str:
    (directory / name).write_text(text, encoding="utf-8")
    return name


def serve(
    cli: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
    config_file: str | None = None,
) -> Config:
    return resolve(
        SERVE,
        section="serve",
        cli=cli,
        environ=env or {},
        config_file=config_file,
        sections=SECTIONS,
    )


def error(**kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        serve(**kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


# --- declaration ---------------------------------------------------------------------------------


def test_setting_gives_flag_env_and_key() -> None:
    assert (ACCESS_LOG.flag, ACCESS_LOG.env, ACCESS_LOG.name) == (
        "--access-log",
        "WSGIKIT_ACCESS_LOG",
        "access_log",
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        pytest.param("Threads", int, id="not-lower-snake"),
        pytest.param("max-body", int, id="dash"),
        pytest.param("threads", dict, id="bad-type"),
    ],
)
def test_bad_declaration_is_refused(name: str, kind: type) -> None:
    with pytest.raises(ValueError, match="setting"):
        Setting(name, kind, None, "help")


# --- precedence ----------------------------------------------------------------------------------


def test_defaults_when_nothing_is_given() -> None:
    config = serve()
    assert dict(config) == {
        "threads": 8,
        "timeout": 30.0,
        "bind": ("127.0.0.1:8000",),
        "access_log": True,
        "name": None,
    }
    assert set(config.sources.values()) == {"default"}


def test_file_overrides_default(in_tmp: Path) -> None:
    config = serve(config_file=toml(in_tmp, "threads = 2\n"))
    assert (config["threads"], config.source("threads")) == (2, "wsgikit.toml")


def test_env_overrides_file(in_tmp: Path) -> None:
    config = serve(env={"WSGIKIT_THREADS": "3"}, config_file=toml(in_tmp, "threads = 2\n"))
    assert (config["threads"], config.source("threads")) == (3, "WSGIKIT_THREADS")


def test_cli_overrides_env_and_file(in_tmp: Path) -> None:
    config = serve(
        cli={"threads": "4"},
        env={"WSGIKIT_THREADS": "3"},
        config_file=toml(in_tmp, "threads = 2\n"),
    )
    assert (config["threads"], config.source("threads")) == (4, "--threads")


def test_subcommand_table_wins_over_top_level(in_tmp: Path) -> None:
    config = serve(config_file=toml(in_tmp, "threads = 2\n[serve]\nthreads = 5\n"))
    assert (config["threads"], config.source("threads")) == (5, "wsgikit.toml [serve]")


def test_other_subcommands_table_is_not_used(in_tmp: Path) -> None:
    config = serve(config_file=toml(in_tmp, "[fcgi]\nthreads = 5\nsocket = 'x.sock'\n"))
    assert config["threads"] == 8


def test_top_level_key_of_another_subcommand_is_allowed(in_tmp: Path) -> None:
    config = serve(config_file=toml(in_tmp, "socket = 'x.sock'\nthreads = 1\n"))
    assert config["threads"] == 1
    assert "socket" not in config


def test_wsgikit_config_env_names_the_file(in_tmp: Path) -> None:
    config = serve(env={"WSGIKIT_CONFIG": toml(in_tmp, "threads = 6\n")})
    assert (config["threads"], config.config_file) == (6, "wsgikit.toml")


def test_config_option_wins_over_wsgikit_config(in_tmp: Path) -> None:
    toml(in_tmp, "threads = 6\n", "env.toml")
    config = serve(
        env={"WSGIKIT_CONFIG": "env.toml"}, config_file=toml(in_tmp, "threads = 7\n", "cli.toml")
    )
    assert (config["threads"], config.config_file) == (7, "cli.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *(pytest.param(word, True, id=f"true-{word}") for word in ("1", "true", "YES", "On")),
        *(pytest.param(word, False, id=f"false-{word}") for word in ("0", "False", "no", "off")),
    ],
)
def test_bool_from_environment(text: str, expected: bool) -> None:
    assert serve(env={"WSGIKIT_ACCESS_LOG": text})["access_log"] is expected


def test_list_from_environment_is_comma_separated() -> None:
    config = serve(env={"WSGIKIT_BIND": "127.0.0.1:1, [::1]:2,"})
    assert config["bind"] == ("127.0.0.1:1", "[::1]:2")


def test_list_from_toml_array(in_tmp: Path) -> None:
    config = serve(config_file=toml(in_tmp, 'bind = ["a:1", "b:2"]\n'))
    assert config["bind"] == ("a:1", "b:2")


def test_list_from_toml_single_string(in_tmp: Path) -> None:
    assert serve(config_file=toml(in_tmp, 'bind = "a:1"\n'))["bind"] == ("a:1",)


def test_float_accepts_toml_integer(in_tmp: Path) -> None:
    value = serve(config_file=toml(in_tmp, "timeout = 5\n"))["timeout"]
    assert (value, type(value)) == (5.0, float)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser, SERVE)
    return parser.parse_args(argv)


def test_argparse_flags_give_typed_values() -> None:
    args = parse(["--threads", "4", "--bind", "a:1", "--bind", "b:2", "--no-access-log"])
    config = serve(cli=cli_values(args, SERVE))
    assert (config["threads"], config["bind"], config["access_log"]) == (4, ("a:1", "b:2"), False)
    assert config.source("access_log") == "--access-log"


def test_argparse_leaves_unset_flags_out() -> None:
    assert cli_values(parse(["--access-log"]), SERVE) == {"access_log": True}


def test_help_names_default_and_environment() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, SERVE)
    text = " ".join(parser.format_help().split())
    assert "worker threads (default: 8; env WSGIKIT_THREADS)" in text
    assert '(repeatable; default: ["127.0.0.1:8000"]; env WSGIKIT_BIND, comma-separated)' in text


# --- the result ----------------------------------------------------------------------------------


def test_config_is_read_only() -> None:
    config = serve()
    with pytest.raises(TypeError):
        config["threads"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        config.sources["threads"] = "x"  # type: ignore[index]


def test_describe_lists_values_with_sources(in_tmp: Path) -> None:
    text = serve(
        cli={"bind": ["0.0.0.0:80"]},
        env={"WSGIKIT_THREADS": "3"},
        config_file=toml(in_tmp, "[serve]\naccess_log = false\n"),
    ).describe()
    assert text.splitlines() == [
        "# config file: wsgikit.toml",
        "threads = 3  # WSGIKIT_THREADS",
        "timeout = 30.0  # default",
        'bind = ["0.0.0.0:80"]  # --bind',
        "access_log = false  # wsgikit.toml [serve]",
        "# name is not set  # default",
    ]


# --- errors: one line naming where the bad value came from ---------------------------------------

ENV_ERRORS = [
    pytest.param("WSGIKIT_THREADS", "x", "WSGIKIT_THREADS='x': expected an integer", id="int"),
    pytest.param("WSGIKIT_THREADS", "-1", "WSGIKIT_THREADS='-1': must be >= 0", id="min"),
    pytest.param(
        "WSGIKIT_TIMEOUT", "inf", "WSGIKIT_TIMEOUT='inf': expected a finite number", id="inf"
    ),
    pytest.param("WSGIKIT_TIMEOUT", "1e9", "WSGIKIT_TIMEOUT='1e9': must be <= 3600", id="max"),
    pytest.param(
        "WSGIKIT_ACCESS_LOG",
        "maybe",
        "WSGIKIT_ACCESS_LOG='maybe': expected a boolean (1/0, true/false, yes/no, on/off)",
        id="bool",
    ),
    pytest.param(
        "WSGIKIT_BIND",
        "a:1,nope",
        "WSGIKIT_BIND='a:1,nope': item 'nope': expected HOST:PORT, [IPv6]:PORT, unix:/path or "
        "fd://N, with a port from 0 to 65535",
        id="list-item",
    ),
    pytest.param("WSGIKIT_NAME", "c", "WSGIKIT_NAME='c': expected one of a, b", id="choices"),
]


@pytest.mark.parametrize(("var", "value", "expected"), ENV_ERRORS)
def test_bad_environment_value(var: str, value: str, expected: str) -> None:
    assert error(env={var: value}) == expected


CLI_ERRORS = [
    pytest.param({"threads": "x"}, "--threads='x': expected an integer", id="int"),
    pytest.param({"timeout": "0"}, "--timeout='0': must be >= 0.5", id="min"),
    pytest.param({"bind": ["a:1", "b"]}, "--bind='b': expected HOST:PORT", id="list-item"),
    pytest.param({"access_log": "maybe"}, "--access-log='maybe': expected a boolean", id="bool"),
    pytest.param({"nope": "1"}, "unknown setting 'nope'", id="unknown"),
]


@pytest.mark.parametrize(("cli", "expected"), CLI_ERRORS)
def test_bad_command_line_value(cli: dict[str, object], expected: str) -> None:
    assert error(cli=cli).startswith(expected)


FILE_ERRORS = [
    pytest.param(
        '[serve]\nthreads = "x"\n',
        'wsgikit.toml [serve] threads: expected an integer, got "x"',
        id="table-int",
    ),
    pytest.param('threads = "8"\n', 'wsgikit.toml threads: expected an integer, got "8"', id="int"),
    pytest.param(
        "threads = true\n", "wsgikit.toml threads: expected an integer, got true", id="bool"
    ),
    pytest.param("threads = -2\n", "wsgikit.toml threads: must be >= 0, got -2", id="min"),
    pytest.param("timeout = inf\n", "wsgikit.toml timeout: expected a number, got inf", id="inf"),
    pytest.param(
        "access_log = 1\n", "wsgikit.toml access_log: expected a boolean, got 1", id="bool-as-int"
    ),
    pytest.param(
        "bind = [1, 2]\n", "wsgikit.toml bind: expected a list of strings, got [1, 2]", id="list"
    ),
    pytest.param(
        '[serve]\nbind = ["a:1", "nope"]\n',
        "wsgikit.toml [serve] bind: expected HOST:PORT, [IPv6]:PORT, unix:/path or fd://N, "
        'with a port from 0 to 65535, got "nope"',
        id="list-item",
    ),
    pytest.param(
        "[serve]\nthread = 4\n",
        "wsgikit.toml [serve]: unknown setting 'thread' (did you mean 'threads'?)",
        id="unknown-key-in-table",
    ),
    pytest.param(
        "[fcgi]\nbind = 'x:1'\n",
        "wsgikit.toml [fcgi]: unknown setting 'bind'",
        id="unknown-key-in-other-table",
    ),
    pytest.param(
        "treads = 4\n",
        "wsgikit.toml: unknown setting 'treads' (did you mean 'threads'?)",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "[sevre]\nthreads = 4\n",
        "wsgikit.toml: unknown table [sevre] (did you mean 'serve'?)",
        id="unknown-table",
    ),
    pytest.param(
        "serve = 4\n", "wsgikit.toml serve: expected a table [serve], got 4", id="no-table"
    ),
    pytest.param(
        "[serve.extra]\nthreads = 4\n",
        "wsgikit.toml [serve]: unknown setting 'extra'",
        id="nested-table",
    ),
    pytest.param(
        "threads = 4\nthreads = 5\n",
        "wsgikit.toml: invalid TOML: Cannot overwrite a value (at line 2, column 12)",
        id="syntax-duplicate",
    ),
    pytest.param(
        "[serve]\nthreads 4\n",
        "wsgikit.toml: invalid TOML: Expected '=' after a key in a key/value pair (at line 2,",
        id="syntax",
    ),
]


@pytest.mark.parametrize(("text", "expected"), FILE_ERRORS)
def test_bad_config_file(in_tmp: Path, text: str, expected: str) -> None:
    assert error(config_file=toml(in_tmp, text)).startswith(expected)


def test_bad_file_value_is_an_error_even_when_overridden(in_tmp: Path) -> None:
    message = error(env={"WSGIKIT_THREADS": "2"}, config_file=toml(in_tmp, 'threads = "x"\n'))
    assert message == 'wsgikit.toml threads: expected an integer, got "x"'


def test_missing_config_file_named_by_option(in_tmp: Path) -> None:
    assert error(config_file="nope.toml") == (
        "--config='nope.toml': cannot read config file: No such file or directory"
    )


def test_missing_config_file_named_by_environment(in_tmp: Path) -> None:
    assert error(env={"WSGIKIT_CONFIG": "nope.toml"}) == (
        "WSGIKIT_CONFIG='nope.toml': cannot read config file: No such file or directory"
    )


def test_config_file_not_utf8(in_tmp: Path) -> None:
    (in_tmp / "wsgikit.toml").write_bytes(b"name = '\xff'\n")
    assert error(config_file="wsgikit.toml") == "wsgikit.toml: invalid TOML: the file is not UTF-8"


# --- value parsers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("512", 512, id="bytes"),
        pytest.param("512b", 512, id="b"),
        pytest.param("64k", 65536, id="k"),
        pytest.param("64 KiB", 65536, id="kib"),
        pytest.param("1MiB", 1 << 20, id="mib"),
        pytest.param("1.5M", 3 << 19, id="fraction"),
        pytest.param("2g", 2 << 30, id="g"),
        pytest.param("10MB", 10_000_000, id="si-mb"),
        pytest.param("1kB", 1000, id="si-kb"),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "k", "-1k", "1 parsec", "1e3", "0x10"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(text)


# --- PasteDeploy option converters (wsgikit.factories) -------------------------------------------


@pytest.mark.parametrize(
    ("convert", "value", "expected"),
    [
        pytest.param(as_bool, "Yes", True, id="bool-word"),
        pytest.param(as_bool, False, False, id="bool-typed"),
        pytest.param(as_int, "9", 9, id="int-text"),
        pytest.param(as_int, 6, 6, id="int-typed"),
        pytest.param(as_float, "0.25", 0.25, id="float-text"),
        pytest.param(as_float, 2, 2.0, id="float-typed"),
        pytest.param(as_list, "a, b\n c", ["a", "b", "c"], id="list-text"),
        pytest.param(as_list, ("a",), ["a"], id="list-typed"),
        pytest.param(as_size, "64k", 65536, id="size-text"),
        pytest.param(as_size, 10, 10, id="size-typed"),
    ],
)
def test_converter_accepts(convert: object, value: object, expected: object) -> None:
    assert callable(convert)
    assert convert("gzip", "opt", value) == expected


@pytest.mark.parametrize(
    ("convert", "value", "expected"),
    [
        pytest.param(as_int, "x", "gzip: option opt='x': expected an integer", id="int"),
        pytest.param(as_int, True, "gzip: option opt=True: expected an integer", id="int-bool"),
        pytest.param(as_bool, "2", "gzip: option opt='2': expected a boolean", id="bool"),
        pytest.param(as_float, "nan", "gzip: option opt='nan': expected a finite", id="float"),
        pytest.param(as_list, 3, "gzip: option opt=3: expected a list of strings", id="list"),
        pytest.param(as_size, "lots", "gzip: option opt='lots': expected a size", id="size"),
    ],
)
def test_converter_error_names_factory_and_option(
    convert: object, value: object, expected: str
) -> None:
    assert callable(convert)
    with pytest.raises(ConfigError) as info:
        convert("gzip", "opt", value)
    assert str(info.value).startswith(expected)
    assert isinstance(info.value, ValueError)


def test_converter_bounds() -> None:
    with pytest.raises(ConfigError, match=r"^gzip: option level='10': must be <= 9$"):
        as_int("gzip", "level", "10", min=1, max=9)


def test_size_lower_bound() -> None:
    with pytest.raises(ConfigError, match=r"^static: option max='1k': must be >= 4096$"):
        as_size("static", "max", "1k", min=4096)


def test_check_options_names_the_unknown_one() -> None:
    with pytest.raises(
        ConfigError, match=r"^gzip: unknown option 'levle' \(options: level, min\)$"
    ):
        check_options("gzip", {"levle": "1"}, ["min", "level"])
