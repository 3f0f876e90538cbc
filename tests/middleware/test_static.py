"""StaticFiles: lookup, headers, methods, conditional requests, ranges, precompressed siblings."""

from __future__ import annotations

import gzip
import os
from email.utils import formatdate
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped, unused-ignore]
import pytest

from tests.middleware.static_helpers import CSS, OLD, fallthrough, get, site, static, write
from wsgikit.middleware import StaticFiles
from wsgikit.testing import check_middleware


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return site(tmp_path / "static")


# --- serving and falling through ----------------------------------------------------------------


def test_a_file_is_served_with_its_headers(root: Path) -> None:
    result = get(static(root), "/static/css/site.css")
    assert result.status == "200 OK"
    assert result.body == CSS
    assert result.header("Content-Type") == "text/css; charset=utf-8"
    assert result.header("Content-Length") == str(len(CSS))
    assert result.header("Last-Modified") == formatdate(OLD, usegmt=True)
    assert result.header(
        "ETag",
    ).startswith('"')  # type: ignore[union-attr]
    assert result.header("X-Content-Type-Options") == "nosniff"
    assert result.header("Cache-Control") == "public, max-age=60"
    assert result.header("Accept-Ranges") == "bytes"


def test_binary_types_get_no_charset(root: Path) -> None:
    assert get(static(root), "/static/logo.png").header("Content-Type") == "image/png"


def test_max_age_is_configurable(root: Path) -> None:
    result = get(static(root, max_age=3600), "/static/app.js")
    assert result.header("Cache-Control") == "public, max-age=3600"


@pytest.mark.parametrize("path", ["/other/x.css", "/static/missing.css", "/static", "/"])
def test_paths_that_name_no_file_go_to_the_app(root: Path, path: str) -> None:
    result = get(static(root), path)
    assert result.header("X-App") == "yes"
    assert result.body == f"app:{path}".encode()


def test_a_post_to_a_path_without_a_file_goes_to_the_app(root: Path) -> None:
    assert get(static(root), "/static/form", method="POST").header("X-App") == "yes"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_on_a_file_get_405_with_allow(root: Path, method: str) -> None:
    result = get(static(root), "/static/app.js", method=method)
    assert result.status_code == 405
    assert result.header("Allow") == "GET, HEAD"


def test_head_has_the_get_headers_and_no_body(root: Path) -> None:
    app = static(root)
    whole, head = get(app, "/static/css/site.css"), get(app, "/static/css/site.css", "HEAD")
    assert head.status == "200 OK"
    assert head.body == b""
    assert head.headers == whole.headers


def test_several_directories_under_several_prefixes(tmp_path: Path) -> None:
    write(tmp_path / "a" / "one.txt", b"one")
    write(tmp_path / "b" / "two.txt", b"two")
    write(tmp_path / "c" / "two.txt", b"shadowed")
    write(tmp_path / "c" / "three.txt", b"three")
    app = StaticFiles(
        fallthrough,
        {"/a": str(tmp_path / "a"), "/b/": [tmp_path / "b", tmp_path / "c"]},
    )
    assert get(app, "/a/one.txt").body == b"one"
    assert get(app, "/b/two.txt").body == b"two"  # the first directory that has it
    assert get(app, "/b/three.txt").body == b"three"
    assert get(app, "/a/two.txt").header("X-App") == "yes"


def test_the_longest_prefix_wins(tmp_path: Path) -> None:
    write(tmp_path / "site" / "admin" / "x.txt", b"from site")
    write(tmp_path / "admin" / "x.txt", b"from admin")
    app = StaticFiles(
        fallthrough, {"/s/": str(tmp_path / "site"), "/s/admin/": str(tmp_path / "admin")}
    )
    assert get(app, "/s/admin/x.txt").body == b"from admin"


def test_a_directory_is_not_a_file(root: Path) -> None:
    assert get(static(root), "/static/docs/").header("X-App") == "yes"
    assert get(static(root), "/static/docs").header("X-App") == "yes"


def test_index_serves_a_directorys_index_file(root: Path) -> None:
    assert get(static(root, index="index.html"), "/static/docs/").body == b"<h1>docs</h1>\n"


def test_index_redirects_a_directory_without_its_slash(root: Path) -> None:
    result = get(static(root, index="index.html"), "/static/docs")
    assert result.status_code == 301
    assert result.header("Location") == "/static/docs/"


def test_the_redirect_keeps_a_utf8_name_percent_encoded(root: Path) -> None:
    (root / "café").mkdir()
    path = "/static/café".encode().decode("latin-1")  # PATH_INFO: bytes decoded as latin-1
    result = get(static(root, index="index.html"), path)
    assert result.header("Location") == "/static/caf%C3%A9/"


def test_dotfiles_are_hidden(root: Path) -> None:
    assert get(static(root), "/static/.env").header("X-App") == "yes"


def test_dotfiles_are_served_when_allowed(root: Path) -> None:
    assert get(static(root, allow_dotfiles=True), "/static/.env").body == b"SECRET=1\n"


def test_a_changed_file_is_seen_after_recheck(root: Path) -> None:
    app = static(root, recheck=0)
    first = get(app, "/static/app.js")
    write(root / "app.js", b"changed();\n", mtime=OLD + 10)
    second = get(app, "/static/app.js")
    assert second.body == b"changed();\n"
    assert second.header("ETag") != first.header("ETag")


def test_a_deleted_file_goes_to_the_app(root: Path) -> None:
    app = static(root, recheck=0)
    get(app, "/static/app.js")
    (root / "app.js").unlink()
    assert get(app, "/static/app.js").header("X-App") == "yes"


def test_check_middleware_passes(root: Path) -> None:
    check_middleware(lambda app: StaticFiles(app, {"/static/": str(root)}))


# --- conditional requests (RFC 9110 §13) ---------------------------------------------------------


def etag_of(root: Path, path: str = "/static/css/site.css") -> str:
    tag = get(static(root), path).header("ETag")
    assert tag is not None
    return tag


def test_if_none_match_with_the_etag_is_304(root: Path) -> None:
    tag = etag_of(root)
    result = get(static(root), "/static/css/site.css", If_None_Match=tag)
    assert result.status == "304 Not Modified"
    assert result.body == b""
    assert result.header("ETag") == tag
    assert result.header("Cache-Control") == "public, max-age=60"
    assert result.header("Content-Length") is None


@pytest.mark.parametrize("form", ['"nope", {tag}', "W/{tag}", "*", '"a","b" ,{tag}'])
def test_if_none_match_lists_star_and_weak_tags_match(root: Path, form: str) -> None:
    value = form.format(tag=etag_of(root))
    assert get(static(root), "/static/css/site.css", If_None_Match=value).status_code == 304


@pytest.mark.parametrize("value", ['"other"', "garbage", '"unterminated'])
def test_if_none_match_without_the_etag_is_200(root: Path, value: str) -> None:
    assert get(static(root), "/static/css/site.css", If_None_Match=value).status_code == 200


def test_if_none_match_takes_precedence_over_if_modified_since(root: Path) -> None:
    later = formatdate(OLD + 3600, usegmt=True)  # would be 304 on its own
    result = get(static(root), "/static/app.js", If_None_Match='"x"', If_Modified_Since=later)
    assert result.status_code == 200


@pytest.mark.parametrize(("delta", "status"), [(0, 304), (60, 304), (-1, 200)])
def test_if_modified_since(root: Path, delta: int, status: int) -> None:
    since = formatdate(OLD + delta, usegmt=True)
    assert get(static(root), "/static/app.js", If_Modified_Since=since).status_code == status


@pytest.mark.parametrize("value", ["yesterday", "Sun, 99 Foo 1994 08:49:37 GMT", "x" * 200])
def test_a_malformed_if_modified_since_is_ignored(root: Path, value: str) -> None:
    assert get(static(root), "/static/app.js", If_Modified_Since=value).status_code == 200


def test_if_match_with_another_etag_is_412(root: Path) -> None:
    assert get(static(root), "/static/app.js", If_Match='"other"').status_code == 412


def test_if_unmodified_since_before_the_change_is_412(root: Path) -> None:
    since = formatdate(OLD - 60, usegmt=True)
    assert get(static(root), "/static/app.js", If_Unmodified_Since=since).status_code == 412


# --- ranges (RFC 9110 §14) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, len(CSS) - 1),
        ("bytes=-50", len(CSS) - 50, len(CSS) - 1),
        ("bytes=4000-99999", 4000, len(CSS) - 1),
        ("BYTES = 5-5", 5, 5),
    ],
)
def test_one_range_is_206_with_content_range(root: Path, spec: str, first: int, last: int) -> None:
    result = get(static(root), "/static/css/site.css", Range=spec)
    assert result.status == "206 Partial Content"
    assert result.body == CSS[first : last + 1]
    assert result.header("Content-Range") == f"bytes {first}-{last}/{len(CSS)}"
    assert result.header("Content-Length") == str(last - first + 1)


def parts_of(result: Any) -> list[tuple[str, bytes]]:
    """(Content-Range, data) of each part of a multipart/byteranges body."""
    boundary = result.header("Content-Type").split("boundary=")[1]
    body = result.body
    assert body.endswith(f"--{boundary}--\r\n".encode())
    parts = []
    for chunk in body.split(f"--{boundary}".encode())[1:-1]:
        head, _, data = chunk.partition(b"\r\n\r\n")
        ranges = [line for line in head.decode().split("\r\n") if line.startswith("Content-Range")]
        parts.append((ranges[0].split(": ")[1], data[:-2]))
    return parts


def test_several_ranges_are_multipart_byteranges(root: Path) -> None:
    result = get(static(root), "/static/css/site.css", Range="bytes=0-9, 20-29,-5")
    assert result.status_code == 206
    assert result.header("Content-Type").startswith("multipart/byteranges; boundary=")  # type: ignore[union-attr]
    assert result.header("Content-Length") == str(len(result.body))
    size = len(CSS)
    assert parts_of(result) == [
        (f"bytes 0-9/{size}", CSS[0:10]),
        (f"bytes 20-29/{size}", CSS[20:30]),
        (f"bytes {size - 5}-{size - 1}/{size}", CSS[-5:]),
    ]


@pytest.mark.parametrize("spec", [f"bytes={len(CSS)}-", "bytes=99999-99999", "bytes=-0"])
def test_an_unsatisfiable_range_is_416(root: Path, spec: str) -> None:
    result = get(static(root), "/static/css/site.css", Range=spec)
    assert result.status_code == 416
    assert result.header("Content-Range") == f"bytes */{len(CSS)}"


@pytest.mark.parametrize(
    "spec",
    [
        "bytes=5-1",
        "bytes=a-b",
        "items=0-1",
        "bytes",
        "bytes=",
        "bytes=1-2-3",
        "bytes=--1",
        "bytes=" + ",".join(["0-0"] * 65),
    ],
)
def test_a_malformed_range_is_ignored(root: Path, spec: str) -> None:
    result = get(static(root), "/static/css/site.css", Range=spec)
    assert result.status_code == 200
    assert result.body == CSS


def test_if_range_with_the_current_etag_gives_the_range(root: Path) -> None:
    result = get(static(root), "/static/css/site.css", Range="bytes=0-3", If_Range=etag_of(root))
    assert result.status_code == 206


@pytest.mark.parametrize("value", ['"stale"', "W/{tag}", "Sun, 06 Nov 1994 08:49:37 GMT", "junk"])
def test_if_range_that_does_not_match_gives_the_whole_file(root: Path, value: str) -> None:
    condition = value.format(tag=etag_of(root))
    result = get(static(root), "/static/css/site.css", Range="bytes=0-3", If_Range=condition)
    assert result.status_code == 200
    assert result.body == CSS


def test_if_range_with_the_last_modified_date_gives_the_range(root: Path) -> None:
    date = formatdate(OLD, usegmt=True)
    result = get(static(root), "/static/css/site.css", Range="bytes=0-3", If_Range=date)
    assert result.status_code == 206


def test_head_ignores_range(root: Path) -> None:
    assert get(static(root), "/static/app.js", "HEAD", Range="bytes=0-1").status_code == 200


# --- precompressed siblings ---------------------------------------------------------------------


@pytest.fixture
def compressed(root: Path) -> Path:
    write(root / "css" / "site.css.gz", gzip.compress(CSS))
    write(root / "css" / "site.css.br", brotli.compress(CSS))
    return root


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, br", "br"),
        ("gzip", "gzip"),
        ("br;q=0.5, gzip", "gzip"),
        ("gzip;q=0.5", "gzip"),
        ("identity", None),
        ("br;q=0, gzip;q=0", None),
        ("zstd", None),
        ("*", "br"),
        ("gzip;q=0.5, identity", None),
    ],
)
def test_the_sibling_is_chosen_by_accept_encoding(
    compressed: Path, accept: str, coding: str | None
) -> None:
    result = get(static(compressed), "/static/css/site.css", Accept_Encoding=accept)
    assert result.header("Content-Encoding") == coding
    decoded = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}[coding](result.body)
    assert decoded == CSS
    assert result.header("Content-Length") == str(len(result.body))
    assert result.header("Content-Type") == "text/css; charset=utf-8"
    assert result.header("Vary") == "Accept-Encoding"


def test_each_coding_has_its_own_etag(compressed: Path) -> None:
    app = static(compressed)
    tags = {
        get(app, "/static/css/site.css", Accept_Encoding=a).header("ETag")
        for a in ("br", "gzip", "identity")
    }
    assert len(tags) == 3


def test_a_304_for_a_coded_variant_keeps_vary(compressed: Path) -> None:
    app = static(compressed)
    tag = get(app, "/static/css/site.css", Accept_Encoding="br").header("ETag")
    result = get(app, "/static/css/site.css", Accept_Encoding="br", If_None_Match=str(tag))
    assert result.status_code == 304
    assert result.header("Vary") == "Accept-Encoding"


def test_a_file_without_siblings_has_no_vary(root: Path) -> None:
    assert get(static(root), "/static/app.js", Accept_Encoding="gzip").header("Vary") is None


def test_a_stale_sibling_is_not_served(root: Path) -> None:
    write(root / "app.js.gz", gzip.compress(b"old content"), mtime=OLD - 100)
    result = get(static(root), "/static/app.js", Accept_Encoding="gzip")
    assert result.header("Content-Encoding") is None


def test_a_range_is_of_the_file_itself(compressed: Path) -> None:
    result = get(
        static(compressed), "/static/css/site.css", Accept_Encoding="br", Range="bytes=0-3"
    )
    assert result.header("Content-Encoding") is None
    assert result.body == CSS[:4]


def test_encodings_limits_the_siblings_looked_for(compressed: Path) -> None:
    result = get(
        static(compressed, encodings=("gzip",)), "/static/css/site.css", Accept_Encoding="br, gzip"
    )
    assert result.header("Content-Encoding") == "gzip"


# --- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_age": -1}, ValueError),
        ({"max_age": "60"}, TypeError),
        ({"index": "a/b.html"}, ValueError),
        ({"follow_symlinks": 1}, TypeError),
        ({"encodings": ("deflate",)}, ValueError),
        ({"encodings": "gzip"}, TypeError),
        ({"content_types": {"md": "text/markdown"}}, ValueError),
        ({"memory_cache": -5}, ValueError),
        ({"recheck": float("nan")}, ValueError),
    ],
)
def test_bad_options_are_refused_at_construction(
    root: Path, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error, match="StaticFiles"):
        static(root, **options)


@pytest.mark.parametrize(
    "directories", [{}, {"static/": "."}, {"/s/": "/no/such/dir"}, {"/s/": []}, {"/s/": 5}]
)
def test_bad_directories_are_refused(directories: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="StaticFiles"):
        StaticFiles(fallthrough, directories)


def test_content_types_adds_types(root: Path) -> None:
    write(root / "notes.md", b"# hi\n")
    app = static(root, content_types={".md": "text/markdown"})
    assert get(app, "/static/notes.md").header("Content-Type") == "text/markdown; charset=utf-8"


def test_mtime_is_what_the_tests_think(root: Path) -> None:
    assert int(os.stat(root / "app.js").st_mtime) == OLD
