"""GzipMiddleware's gzip levels mean zlib's: within 2% of zlib's size on real pages (size only).

The pages are pydoc's HTML of stdlib modules, cut to 100 KiB, the pages of
``benchmarks/middleware_gzip.py`` on which the per-level table was chosen (these three were the
closest calls: ipaddress for zlib-ng 6, inspect for isal 1). Speed lives in the benchmark.
"""

from __future__ import annotations

import gzip
import pydoc
import zlib
from collections.abc import Iterable

import pytest
from isal import isal_zlib  # type: ignore[import-untyped, unused-ignore]

from wsgikit.middleware.gzip import GzipMiddleware, _compressors
from wsgikit.middleware.gzip._compressors import GZIP_BACKENDS, make_codec
from wsgikit.testing import call_app
from wsgikit.types import StartResponse, WSGIEnvironment

LEVELS = range(1, 10)
NONE_OVER: dict[int, dict[str, float]] = {level: {} for level in LEVELS}
Pages = dict[str, bytes]


@pytest.fixture(scope="module")
def pages() -> Pages:
    out = {}
    for name in ("ipaddress", "inspect", "pathlib"):
        thing, _ = pydoc.resolve(name)  # type: ignore[misc]
        html = pydoc.html.page(pydoc.describe(thing), pydoc.html.document(thing, name))
        out[name] = html.encode()[: 100 * 1024]
    return out


def oversize(pages: Pages, level: int, backend: str | None = None) -> dict[str, float]:
    """Each page's gzip size at ``level`` over zlib's at the same level, where it exceeds 1.02."""
    codec = make_codec("gzip", level, backend)
    ratios = {
        name: len(codec.compress_all([page])) / len(zlib.compress(page, level, 31))
        for name, page in pages.items()
    }
    return {name: ratio for name, ratio in ratios.items() if ratio > 1.02}


@pytest.mark.parametrize("level", LEVELS)
def test_default_level_is_within_2_percent_of_zlib(pages: Pages, level: int) -> None:
    assert oversize(pages, level) == {}


@pytest.mark.parametrize("level", LEVELS)
def test_middleware_body_is_within_2_percent_of_zlib(pages: Pages, level: int) -> None:
    page = pages["inspect"]

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [page]

    result = call_app(GzipMiddleware(app, level=level), headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(result.body) == page
    assert len(result.body) <= 1.02 * len(zlib.compress(page, level, 31))


def test_forced_zlib_ng_keeps_every_level_within_2_percent(pages: Pages) -> None:
    assert {level: oversize(pages, level, "zlib-ng") for level in LEVELS} == NONE_OVER


def test_forced_isal_at_level_1_is_within_2_percent(pages: Pages) -> None:
    assert oversize(pages, 1, "isal") == {}


def test_forced_isal_above_level_1_uses_its_densest_level(pages: Pages) -> None:
    page = pages["pathlib"]
    densest = isal_zlib.compress(page, 3, 31)  # ISA-L's levels are 0..3
    outputs = {level: make_codec("gzip", level, "isal").compress_all([page]) for level in LEVELS}
    assert {level: out == densest for level, out in outputs.items()} == {
        level: level > 1 for level in LEVELS
    }


@pytest.mark.parametrize("missing", ["isal", "zlib-ng"])
def test_without_one_fast_backend_every_level_stays_within_2_percent(
    pages: Pages, missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = _compressors._import
    hidden = GZIP_BACKENDS[missing]
    monkeypatch.setattr(
        _compressors, "_import", lambda module: None if module == hidden else real_import(module)
    )
    assert {level: oversize(pages, level) for level in LEVELS} == NONE_OVER
    assert {make_codec("gzip", level).backend for level in LEVELS}.isdisjoint({missing})
