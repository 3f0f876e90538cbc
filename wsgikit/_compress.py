"""The ``wsgikit compress DIR`` command: precompressed siblings for StaticFiles.

Its settings and runner, spliced into :data:`wsgikit.cli.COMMANDS`; the work is
:func:`wsgikit.middleware.static.compress_directory`::

    wsgikit compress static/ --encodings gzip --encodings br
"""

from __future__ import annotations

from wsgikit.config import Config, ConfigError, Setting
from wsgikit.middleware import compress_directory

__all__ = ["COMPRESS", "run_compress"]

COMPRESS = (
    Setting(
        "directory", str, None, "the directory of static files", metavar="DIR", positional=True
    ),
    Setting(
        "encodings",
        list,
        ("gzip", "br", "zstd"),
        "siblings to write (br needs brotli, zstd needs zstandard)",
        choices=("gzip", "br", "zstd"),
        metavar="CODING",
    ),
)


def run_compress(_app: object, settings: Config) -> int:
    """``wsgikit compress DIR``: write the siblings, print what was done."""
    root = settings["directory"]
    if not root:
        raise ConfigError("no directory given: wsgikit compress DIR")
    try:
        report = compress_directory(root, tuple(settings["encodings"]))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for path in report.written:
        print(f"wrote {path}")
    for coding in report.missing:
        print(f"skipped {coding}: its library is not installed (pip install wsgikit[all])")
    print(
        f"{len(report.written)} written, {report.up_to_date} up to date, "
        f"{report.not_smaller} not {report.min_saving:.0%} smaller"
    )
    return 0
