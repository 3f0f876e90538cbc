"""``wsgikit compress DIR``: the precompressed siblings StaticFiles serves, written once."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import brotli  # type: ignore[import-untyped, unused-ignore]
import pytest
import zstandard

from tests.middleware.static_helpers import CSS, OLD, get, static, write
from wsgikit.cli import main
from wsgikit.middleware.static import compress_directory

DECODE = {
    ".gz": gzip.decompress,
    ".br": lambda data: bytes(brotli.decompress(data)),
    ".zst": lambda data: zstandard.ZstdDecompressor().decompress(data),
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path / "css" / "site.css", CSS)
    write(tmp_path / "noise.txt", os.urandom(4000))  # text by name, but does not compress
    write(tmp_path / "logo.png", b"\x89PNG" + b"\x00" * 4000)  # an image: never compressed
    write(tmp_path / ".secret.css", CSS)
    write(tmp_path / ".git" / "x.css", CSS)
    return tmp_path


@pytest.mark.parametrize("suffix", [".gz", ".br", ".zst"])
def test_each_sibling_decodes_to_the_file_and_has_its_mtime(root: Path, suffix: str) -> None:
    compress_directory(str(root))
    sibling = root / "css" / f"site.css{suffix}"
    assert DECODE[suffix](sibling.read_bytes()) == CSS
    assert sibling.stat().st_mtime_ns == (root / "css" / "site.css").stat().st_mtime_ns


def test_only_compressible_files_that_shrink_get_siblings(root: Path) -> None:
    report = compress_directory(str(root))
    made = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.suffix in DECODE)
    assert made == ["css/site.css.br", "css/site.css.gz", "css/site.css.zst"]
    assert report.not_smaller == 3  # noise.txt, once per coding


def test_a_second_run_writes_nothing(root: Path) -> None:
    compress_directory(str(root))
    inode = (root / "css" / "site.css.br").stat().st_ino
    report = compress_directory(str(root))
    assert report.written == []
    assert report.up_to_date == 3
    assert (root / "css" / "site.css.br").stat().st_ino == inode


def test_a_changed_file_gets_new_siblings(root: Path) -> None:
    compress_directory(str(root))
    write(root / "css" / "site.css", CSS * 2, mtime=OLD + 60)
    report = compress_directory(str(root))
    assert len(report.written) == 3
    assert gzip.decompress((root / "css" / "site.css.gz").read_bytes()) == CSS * 2


def test_static_files_serves_what_compress_wrote(root: Path) -> None:
    compress_directory(str(root))
    result = get(static(root), "/static/css/site.css", Accept_Encoding="br, gzip")
    assert result.header("Content-Encoding") == "br"
    assert bytes(brotli.decompress(result.body)) == CSS


def test_the_command_line(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compress", str(root), "--encodings", "gzip"]) == 0
    out = capsys.readouterr().out
    assert "1 written, 0 up to date, 1 not 5% smaller" in out
    assert (root / "css" / "site.css.gz").exists()
    assert not (root / "css" / "site.css.br").exists()


def test_the_command_line_refuses_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compress", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err
