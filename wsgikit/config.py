"""Settings for the wsgikit command line: each declared once, read from four places.

A :class:`Setting` gives its command-line flag (``--threads``), environment variable
(``WSGIKIT_THREADS``) and TOML key (``threads``, top level or in the subcommand's table such as
``[serve]``; the table wins). :func:`resolve` applies the precedence CLI > ``WSGIKIT_*``
environment > config file (``--config FILE`` or ``WSGIKIT_CONFIG``) > default and returns a frozen
:class:`Config` that also records where each value came from. A bad value raises
:class:`ConfigError` with one line naming where it came from::

    THREADS = Setting("threads", int, 8, "pool threads", min=0)
    config = resolve([THREADS], section="serve", environ={"WSGIKIT_THREADS": "4"})
    config["threads"], config.source("threads")  # (4, 'WSGIKIT_THREADS')
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Any

__all__ = [
    "CONFIG_ENV",
    "Config",
    "ConfigError",
    "Setting",
    "add_arguments",
    "cli_values",
    "parse_bool",
    "parse_float",
    "parse_int",
    "parse_list",
    "parse_size",
    "resolve",
]

CONFIG_ENV = "WSGIKIT_CONFIG"
_ENV_PREFIX = "WSGIKIT_"
_WORDS: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "a list of strings",
}
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*")
# "k", "M", "KiB", "MiB" are binary (as in nginx); "kB", "MB" are SI (IEC 80000-13).
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 10**3, "m": 1 << 20, "mib": 1 << 20}
_UNITS |= {"mb": 10**6, "g": 1 << 30, "gib": 1 << 30, "gb": 10**9}


class ConfigError(ValueError):
    """A bad setting or config file. ``str()`` is one line naming where the value came from."""


def parse_bool(text: str) -> bool:
    """``1/0``, ``true/false``, ``yes/no``, ``on/off`` (any case) → bool, else ValueError."""
    word = text.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError("expected a boolean (1/0, true/false, yes/no, on/off)")


def parse_int(text: str) -> int:
    """A base-10 integer, else ValueError("expected an integer")."""
    try:
        return int(text, 10)
    except ValueError:
        raise ValueError("expected an integer") from None


def parse_float(text: str) -> float:
    """A finite number, else ValueError("expected a number")."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError("expected a number") from None
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def parse_list(text: str) -> list[str]:
    """A comma-separated list (the environment form); blanks and empty items are dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_size(text: str) -> int:
    """Bytes: ``512``, ``64k``/``64KiB`` (x1024), ``1M``/``1MiB``, ``1G``, ``10MB`` (x10**6)."""
    match = _SIZE.fullmatch(text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError("expected a size like 512, 64k, 1MiB or 10MB")
    return int(Fraction(match.group(1)) * _UNITS[match.group(2).lower()])


@dataclass(frozen=True)
class Setting:
    """One setting: ``type`` is str, int, float, bool or list (of str); a None default: unset.

    ``min``/``max``/``choices`` bound the value (each item, for lists); ``validate`` is called with
    the value (each item) and raises ValueError with a short reason. ``positional`` makes the CLI
    form a positional argument instead of ``--name``. ``sensitive`` (a password, a shared
    secret): ``--print-config`` shows ``***`` instead of the value.
    """

    name: str
    type: type
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    validate: Callable[[Any], object] | None = None
    metavar: str | None = None
    positional: bool = False
    sensitive: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"setting name {self.name!r} must be lower_snake_case")
        if self.type not in _WORDS:
            raise ValueError(f"setting {self.name!r}: type must be str, int, float, bool or list")

    @property
    def flag(self) -> str:
        return self.name if self.positional else "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return _ENV_PREFIX + self.name.upper()


class Config(Mapping[str, Any]):
    """The resolved values (lists as tuples), read-only, and where each one came from."""

    __slots__ = ("_file", "_sensitive", "_sources", "_values")

    def __init__(
        self,
        values: Mapping[str, Any],
        sources: Mapping[str, str],
        config_file: str | None = None,
        *,
        sensitive: Iterable[str] = (),
    ) -> None:
        self._values = MappingProxyType(dict(values))
        self._sources = MappingProxyType(dict(sources))
        self._file = config_file
        self._sensitive = frozenset(sensitive)  # names whose values describe() hides

    @property
    def config_file(self) -> str | None:
        """The TOML file read, if any."""
        return self._file

    @property
    def sources(self) -> Mapping[str, str]:
        return self._sources

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def source(self, name: str) -> str:
        """``"--threads"`` (``"command line"`` for a positional), ``"WSGIKIT_THREADS"``,
        ``"wsgikit.toml [serve]"`` or ``"default"``."""
        return self._sources[name]

    def overridden(self, name: str, value: Any, reason: str) -> Config:
        """A copy in which ``name`` has the value that takes effect, and the source says why
        (a setting that another one overrules, e.g. ``threads = 0`` forcing ``buffer_bodies``)."""
        values = dict(self._values)
        sources = dict(self._sources)
        values[name] = value
        sources[name] = f"{sources[name]}, overruled: {reason}"
        return Config(values, sources, self._file, sensitive=self._sensitive)

    def describe(self) -> str:
        """The settings as TOML lines, each with its source as a comment (``--print-config``)."""
        lines = [f"# config file: {self._file or '(none)'}"]
        for name, value in self._values.items():
            # a secret is not TOML here on purpose: a copied line fails, never serves with "***"
            shown = "***" if name in self._sensitive else _toml(value)
            line = f"# {name} is not set" if value is None else f"{name} = {shown}"
            lines.append(f"{line}  # {self._sources[name]}")
        return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser, settings: Sequence[Setting]) -> None:
    """Add each setting's CLI form; values stay raw strings so errors name the flag (one line)."""
    for s in settings:
        shown = "not set" if s.default is None else _toml(s.default)
        env = f"env {s.env}, comma-separated" if s.type is list else f"env {s.env}"
        more = "repeatable; " if s.type is list and not s.positional else ""
        text = f"{s.help} ({more}default: {shown}; {env})".replace("%", "%%")
        common: dict[str, Any] = {"default": argparse.SUPPRESS, "help": text}
        if s.positional:
            parser.add_argument(s.name, nargs="?", metavar=s.metavar or s.name.upper(), **common)
        elif s.type is bool:
            parser.add_argument(
                s.flag, dest=s.name, action=argparse.BooleanOptionalAction, **common
            )
        else:
            action = "append" if s.type is list else "store"
            metavar = s.metavar or s.name.upper()
            parser.add_argument(s.flag, dest=s.name, action=action, metavar=metavar, **common)


def cli_values(namespace: argparse.Namespace, settings: Sequence[Setting]) -> dict[str, object]:
    """The settings given on the command line (others are absent: argparse.SUPPRESS)."""
    return {s.name: getattr(namespace, s.name) for s in settings if hasattr(namespace, s.name)}


def resolve(
    settings: Sequence[Setting],
    *,
    section: str,
    cli: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
    sections: Mapping[str, Sequence[Setting]] | None = None,
) -> Config:
    """Resolve ``settings`` for the subcommand ``section``: CLI > environment > file > default.

    ``config_file`` is the ``--config`` value; without it ``WSGIKIT_CONFIG`` names the file.
    ``sections`` maps every subcommand to its settings, so that the file's other tables and
    top-level keys are checked too: an unknown key anywhere is an error, never ignored.
    """
    env = os.environ if environ is None else environ
    given = dict(cli or {})
    by_name = {s.name: s for s in settings}
    unknown = sorted(given.keys() - by_name.keys())
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}")
    path, origin = config_file, "--config"
    if path is None:
        path, origin = env.get(CONFIG_ENV) or None, CONFIG_ENV
    from_file = {} if path is None else _read(path, origin, section, by_name, sections)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for s in settings:
        if s.name in given:
            origin = "command line" if s.positional else s.flag
            values[s.name], sources[s.name] = _from_cli(s, given[s.name]), origin
        elif s.env in env:
            values[s.name], sources[s.name] = _from_env(s, env[s.env]), s.env
        elif s.name in from_file:
            values[s.name], sources[s.name] = from_file[s.name]
        else:
            values[s.name], sources[s.name] = _freeze(s.default), "default"
    return Config(values, sources, path, sensitive=(s.name for s in settings if s.sensitive))


def _from_cli(s: Setting, raw: object) -> Any:
    items = list(raw) if isinstance(raw, list | tuple) else [raw]
    out = []
    for item in items:
        try:
            value = _typed(s, item) if not isinstance(item, str) else _item_from_text(s, item)
            _check(s, value)
        except ValueError as exc:
            raise ConfigError(f"{s.flag}={item!r}: {exc}") from None
        out.append(value)
    return tuple(out) if s.type is list else out[0]


def _from_env(s: Setting, text: str) -> Any:
    try:
        if s.type is not list:
            value = _item_from_text(s, text)
            _check(s, value)
            return value
        items = parse_list(text)
        for item in items:
            try:
                _check(s, item)
            except ValueError as exc:
                raise ValueError(f"item {item!r}: {exc}") from None
        return tuple(items)
    except ValueError as exc:
        raise ConfigError(f"{s.env}={text!r}: {exc}") from None


def _shown(s: Setting, value: object) -> str:
    """A value for an error message: a sensitive one (a mistyped secret) is not repeated."""
    return "***" if s.sensitive else _toml(value)


def _from_toml(s: Setting, value: object, where: str) -> Any:
    try:
        typed = _typed(s, value)
    except ValueError as exc:
        raise ConfigError(f"{where} {s.name}: {exc}, got {_shown(s, value)}") from None
    for item in typed if s.type is list else [typed]:
        try:
            _check(s, item)
        except ValueError as exc:
            raise ConfigError(f"{where} {s.name}: {exc}, got {_shown(s, item)}") from None
    return tuple(typed) if s.type is list else typed


def _item_from_text(s: Setting, text: str) -> Any:
    if s.type is bool:
        return parse_bool(text)
    if s.type is int:
        return parse_int(text)
    if s.type is float:
        return parse_float(text)
    return text  # str, or one item of a list


def _typed(s: Setting, value: object) -> Any:
    """Accept a value that already has a type (TOML, argparse's bool): exactly the declared one."""
    t, is_bool = s.type, isinstance(value, bool)
    if (t is bool and is_bool) or (t is str and isinstance(value, str)):
        return value
    if t is str and isinstance(value, int) and not is_bool:
        return str(value)  # its text: workers = 4 next to workers = "auto", unix_mode = 660
    if t is int and isinstance(value, int) and not is_bool:
        return value
    if t is float and isinstance(value, int | float) and not is_bool and math.isfinite(value):
        return float(value)
    if t is list and isinstance(value, str):
        return [value]  # bind = "0.0.0.0:80" reads naturally for a one-item list
    if t is list and isinstance(value, list) and all(isinstance(i, str) for i in value):
        return list(value)
    raise ValueError(f"expected {_WORDS[t]}")


def _check(s: Setting, value: Any) -> None:
    if value is None:
        return
    if s.min is not None and value < s.min:
        raise ValueError(f"must be >= {s.min}")
    if s.max is not None and value > s.max:
        raise ValueError(f"must be <= {s.max}")
    if s.choices and value not in s.choices:
        raise ValueError(f"expected one of {', '.join(s.choices)}")
    if s.validate is not None:
        s.validate(value)


def _read(
    path: str,
    origin: str,
    section: str,
    by_name: Mapping[str, Setting],
    sections: Mapping[str, Sequence[Setting]] | None,
) -> dict[str, tuple[Any, str]]:
    """Read and check the whole TOML file; return this subcommand's values with their sources."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"{origin}={path!r}: cannot read config file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: invalid TOML: the file is not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:  # its message ends "(at line L, column C)"
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    tables = {name: {s.name for s in group} for name, group in (sections or {}).items()}
    tables[section] = set(by_name)
    anywhere = set().union(*tables.values())
    for key, value in data.items():
        if key in tables:
            if not isinstance(value, dict):
                raise ConfigError(f"{path} {key}: expected a table [{key}], got {_toml(value)}")
            unknown = sorted(value.keys() - tables[key])
            if unknown:
                hint = _hint(unknown[0], tables[key])
                raise ConfigError(f"{path} [{key}]: unknown setting {unknown[0]!r}{hint}")
        elif isinstance(value, dict):
            raise ConfigError(f"{path}: unknown table [{key}]{_hint(key, tables)}")
        elif key not in anywhere:
            raise ConfigError(f"{path}: unknown setting {key!r}{_hint(key, anywhere)}")
    found: dict[str, tuple[Any, str]] = {}
    for key, value in data.items():
        if key in by_name:
            found[key] = (_from_toml(by_name[key], value, path), path)
    for key, value in data.get(section, {}).items():
        where = f"{path} [{section}]"
        found[key] = (_from_toml(by_name[key], value, where), where)  # the table wins
    return found


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _toml(value: object) -> str:
    """A value as TOML would write it, for messages and --print-config."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "a table"
    return str(value)
