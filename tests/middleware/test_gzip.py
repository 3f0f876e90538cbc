"""GzipMiddleware: negotiation, headers, streaming, skips, codecs; every body is decoded."""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import brotli  # type: ignore[import-untyped, unused-ignore]
import pytest
import zstandard

from wsgikit.middleware.gzip import GzipMiddleware, _compressors
from wsgikit.middleware.gzip._compressors import GZIP_BACKENDS, make_codec
from wsgikit.testing import Result, call_app, check_middleware, make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

PAGE = b"".join(b"<li><a href='/items/%d'>item number %d</a></li>\n" % (i, i) for i in range(400))
HTML = ("Content-Type", "text/html; charset=utf-8")
Headers = list[tuple[str, str]]


def decode(coding: str | None, data: bytes) -> bytes:
    """The body as the client sees it; raises unless ``data`` is a complete, valid stream."""
    if coding == "gzip":
        return gzip.decompress(data)  # checks the header, the CRC-32 and the length trailer
    if coding == "br":
        return bytes(brotli.decompress(data))
    if coding == "zstd":
        out = zstandard.ZstdDecompressor().decompressobj()
        body: bytes = out.decompress(data)
        assert out.eof
        return body
    assert coding is None
    return data


def app_for(
    body: Iterable[bytes] | None = None,
    *,
    status: str = "200 OK",
    headers: Headers | None = None,
    kind: str = "list",
    seen: list[str] | None = None,
) -> WSGIApplication:
    """An app answering ``body`` as a list, a generator, with a lazy start_response or write()."""
    chunks = [PAGE] if body is None else list(body)
    head = [HTML] if headers is None else headers
    log = [] if seen is None else seen

    def gen() -> Recorded:
        return Recorded(chunks, log)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if kind == "lazy":

            def lazy() -> Iterator[bytes]:
                start_response(status, list(head))
                yield from chunks

            return Recorded(lazy(), log)
        write = start_response(status, list(head))
        if kind == "write":
            for chunk in chunks[:-1]:
                write(chunk)
            return Recorded(chunks[-1:], log)
        return gen() if kind == "generator" else list(chunks)

    return app


class Recorded:
    """An iterable (not a list: the middleware streams it) that logs its close()."""

    def __init__(self, chunks: Iterable[bytes], log: list[str]) -> None:
        self.chunks, self.log = chunks, log

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.log.append("closed")


def get(app: WSGIApplication, accept: str | None = "gzip", **kwargs: Any) -> Result:
    headers = {} if accept is None else {"Accept-Encoding": accept}
    headers.update(kwargs.pop("headers", {}))
    return call_app(app, headers=headers, **kwargs)


def body_of(result: Result) -> bytes:
    return decode(result.header("Content-Encoding"), result.body)


def accepting(coding: str) -> Callable[..., WSGIApplication]:
    """A factory for check_middleware: the zoo's requests, sent with Accept-Encoding: coding."""

    def factory(app: WSGIApplication, **options: Any) -> WSGIApplication:
        middleware = GzipMiddleware(app, **options)

        def with_header(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            environ["HTTP_ACCEPT_ENCODING"] = coding
            return middleware(environ, start_response)

        return with_header

    return factory


# --- conformance -------------------------------------------------------------------------------

ALL = ("gzip", "br", "zstd")


@pytest.mark.parametrize(
    ("coding", "options"),
    [
        pytest.param(None, {}, id="defaults-no-accept-encoding"),
        pytest.param("gzip", {"min_size": 0}, id="gzip-buffered"),
        pytest.param("gzip", {"min_size": 0, "max_buffer": 0}, id="gzip-streamed"),
        pytest.param("gzip", {}, id="gzip-defaults-small-bodies"),
        pytest.param("br", {"min_size": 0, "encodings": ALL}, id="br"),
        pytest.param("zstd", {"min_size": 0, "encodings": ALL, "max_buffer": 0}, id="zstd"),
        pytest.param("gzip", {"min_size": 0, "gzip_backend": "zlib-ng"}, id="zlib-ng"),
        pytest.param("gzip", {"min_size": 0, "gzip_backend": "zlib"}, id="zlib"),
        pytest.param("gzip;q=0", {"min_size": 0}, id="refused"),
    ],
)
def test_passes_check_middleware(coding: str | None, options: dict[str, Any]) -> None:
    check_middleware(GzipMiddleware if coding is None else accepting(coding), **options)


# --- negotiation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "encodings", "expected"),
    [
        pytest.param("gzip", ("gzip",), "gzip", id="gzip"),
        pytest.param("GZIP", ("gzip",), "gzip", id="case-insensitive"),
        pytest.param("gzip, deflate, br", ("gzip",), "gzip", id="browser"),
        pytest.param("gzip;q=0", ("gzip",), None, id="gzip-q0"),
        pytest.param("*", ("gzip",), "gzip", id="star"),
        pytest.param("*;q=0", ("gzip",), None, id="star-q0"),
        pytest.param("gzip, *;q=0", ("gzip",), "gzip", id="gzip-and-star-q0"),
        pytest.param("identity;q=0", ("gzip",), None, id="identity-q0-nothing-else"),
        pytest.param("*;q=0.5, identity;q=0", ("gzip",), "gzip", id="star-identity-q0"),
        pytest.param("gzip;q=0.5, identity", ("gzip",), None, id="identity-preferred"),
        pytest.param("gzip;q=0.5", ("gzip",), "gzip", id="implicit-identity-is-fallback"),
        pytest.param("deflate", ("gzip",), None, id="unsupported"),
        pytest.param("", ("gzip",), None, id="empty"),
        pytest.param("gzip;q=2", ("gzip",), None, id="invalid"),
        pytest.param("gzip;q=0.8, br", ("gzip", "br"), "br", id="q-wins-over-order"),
        pytest.param("gzip, br", ("gzip", "br"), "gzip", id="tie-server-order"),
        pytest.param("gzip, br", ("br", "gzip"), "br", id="tie-server-order-br"),
        pytest.param("zstd, gzip;q=0.9", ALL, "zstd", id="zstd"),
        pytest.param("br;q=0, *", ("br", "gzip"), "gzip", id="br-refused-star"),
    ],
)
def test_negotiation(accept: str, encodings: tuple[str, ...], expected: str | None) -> None:
    result = get(GzipMiddleware(app_for(), encodings=encodings), accept)
    assert result.header("Content-Encoding") == expected
    assert body_of(result) == PAGE


def test_no_accept_encoding_is_identity() -> None:
    result = get(GzipMiddleware(app_for()), None)
    assert result.header("Content-Encoding") is None
    assert result.body == PAGE


# --- Vary ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [pytest.param("gzip", id="gzip"), pytest.param(None, id="none")])
def test_vary_on_every_response_that_could_vary(accept: str | None) -> None:
    result = get(GzipMiddleware(app_for()), accept)
    assert result.header_list("Vary") == ["Accept-Encoding"]


def test_vary_merged_into_existing() -> None:
    result = get(GzipMiddleware(app_for(headers=[HTML, ("Vary", "Cookie")])))
    assert result.header_list("Vary") == ["Cookie, Accept-Encoding"]
    assert body_of(result) == PAGE


@pytest.mark.parametrize(
    "vary", [pytest.param("accept-encoding", id="present"), pytest.param("*", id="star")]
)
def test_vary_not_added_twice(vary: str) -> None:
    result = get(GzipMiddleware(app_for(headers=[HTML, ("Vary", vary)])))
    assert result.header_list("Vary") == [vary]


def test_stacked_twice_codes_once() -> None:
    result = get(GzipMiddleware(GzipMiddleware(app_for())))
    assert result.header_list("Vary") == ["Accept-Encoding"]
    assert result.header_list("Content-Encoding") == ["gzip"]
    assert gzip.decompress(result.body) == PAGE


def test_app_header_list_not_mutated() -> None:
    headers = [HTML, ("ETag", '"v1"')]

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", headers)
        return [PAGE]

    get(GzipMiddleware(app))
    assert headers == [HTML, ("ETag", '"v1"')]


# --- ETag, Content-Length, Accept-Ranges --------------------------------------------------------


@pytest.mark.parametrize(
    ("etag", "expected"),
    [pytest.param('"v1"', 'W/"v1"', id="strong"), pytest.param('W/"v1"', 'W/"v1"', id="weak")],
)
def test_etag_made_weak(etag: str, expected: str) -> None:
    result = get(GzipMiddleware(app_for(headers=[HTML, ("ETag", etag)])))
    assert result.header("ETag") == expected


def test_etag_kept_when_not_compressed() -> None:
    result = get(GzipMiddleware(app_for(headers=[HTML, ("ETag", '"v1"')])), "identity")
    assert result.header("ETag") == '"v1"'


def test_accept_ranges_dropped_when_compressed() -> None:
    result = get(GzipMiddleware(app_for(headers=[HTML, ("Accept-Ranges", "bytes")])))
    assert result.header("Accept-Ranges") is None


@pytest.mark.parametrize("chunks", [pytest.param(1, id="one"), pytest.param(4, id="several")])
def test_list_body_gets_content_length(chunks: int) -> None:
    size = len(PAGE) // chunks + 1
    parts = [PAGE[i : i + size] for i in range(0, len(PAGE), size)]
    headers = [HTML, ("Content-Length", str(len(PAGE)))]
    result = get(GzipMiddleware(app_for(parts, headers=headers)))
    assert result.header("Content-Length") == str(len(result.body))
    assert gzip.decompress(result.body) == PAGE


@pytest.mark.parametrize("kind", ["generator", "lazy", "write"])
def test_other_bodies_stream_without_content_length(kind: str) -> None:
    headers = [HTML, ("Content-Length", str(len(PAGE)))]
    result = get(GzipMiddleware(app_for([PAGE[:999], PAGE[999:]], headers=headers, kind=kind)))
    assert result.header("Content-Encoding") == "gzip"
    assert result.header("Content-Length") is None
    assert gzip.decompress(result.body) == PAGE


def test_list_above_max_buffer_streams() -> None:
    result = get(GzipMiddleware(app_for(), max_buffer=len(PAGE) - 1))
    assert result.header("Content-Length") is None
    assert gzip.decompress(result.body) == PAGE


def test_file_wrapper_body_is_compressed_and_closed(tmp_path: Any) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(PAGE)
    files: list[Any] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [HTML])
        files.append(path.open("rb"))
        wrapped: Iterable[bytes] = environ["wsgi.file_wrapper"](files[0], 4096)
        return wrapped

    result = get(GzipMiddleware(app))
    assert gzip.decompress(result.body) == PAGE
    assert files[0].closed


# --- streaming ----------------------------------------------------------------------------------


def test_streams_chunk_by_chunk() -> None:
    pulled: list[int] = []

    def chunks() -> Iterator[bytes]:
        for i in range(200):
            pulled.append(i)
            yield PAGE

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [HTML])
        return chunks()

    outer = GzipMiddleware(app)(make_environ(headers={"Accept-Encoding": "gzip"}), _start)
    stream = iter(outer)
    out = [next(stream) for _ in range(10)]
    assert len(pulled) == 10  # one inner chunk a yield: nothing read ahead, memory stays bounded
    out.extend(stream)
    close(outer)
    assert gzip.decompress(b"".join(out)) == PAGE * 200
    assert max(map(len, out)) < len(PAGE) * 200 // 4  # output leaves as it is made


def test_event_stream_flushes_each_chunk() -> None:
    events = [b"data: %d %s\n\n" % (i, b"tick" * 40) for i in range(5)]
    app = app_for(events, headers=[("Content-Type", "text/event-stream")], kind="generator")
    outer = GzipMiddleware(app, min_size=0)(
        make_environ(headers={"Accept-Encoding": "gzip"}), _start
    )
    reader = zlib.decompressobj(31)
    seen = b""
    for sent, chunk in zip(events, outer, strict=False):
        seen += sent
        assert reader.decompress(chunk) == sent  # decodable on arrival, not held back
    close(outer)


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_extra_codings_stream(coding: str) -> None:
    app = app_for([PAGE] * 5, kind="generator")
    result = get(GzipMiddleware(app, encodings=ALL), coding)
    assert result.header("Content-Encoding") == coding
    assert decode(coding, result.body) == PAGE * 5


def close(iterable: Iterable[bytes]) -> None:
    method = getattr(iterable, "close", None)
    assert method is not None
    method()


def _start(status: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], None]:
    return lambda data: None


# --- HEAD -------------------------------------------------------------------------------------


def test_head_has_get_headers_and_no_body() -> None:
    headers = [HTML, ("Content-Length", str(len(PAGE))), ("ETag", '"v1"')]
    app = GzipMiddleware(app_for(headers=headers))
    got, head = get(app), get(app, method="HEAD")
    assert head.body == b""
    assert head.headers == got.headers


def test_head_small_list_is_plain_like_get() -> None:
    app = GzipMiddleware(app_for([PAGE[:100]]))
    got, head = get(app), get(app, method="HEAD")
    assert head.headers == got.headers == [HTML]
    assert head.body == b""


@pytest.mark.parametrize("kind", ["generator", "lazy", "write"])
def test_head_streaming_app_has_coding_without_length(kind: str) -> None:
    seen: list[str] = []
    headers = [HTML, ("Content-Length", str(len(PAGE)))]
    app = app_for([PAGE[:999], PAGE[999:]], headers=headers, kind=kind, seen=seen)
    head = get(GzipMiddleware(app), method="HEAD")
    assert (head.body, head.header("Content-Encoding"), head.header("Vary")) == (
        b"",
        "gzip",
        "Accept-Encoding",
    )
    assert head.header("Content-Length") is None
    assert seen == ["closed"]


# --- what is left alone -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "accept", "extra"),
    [
        pytest.param("204 No Content", [HTML], "gzip", {}, id="204"),
        pytest.param(
            "206 Partial Content", [HTML, ("Content-Range", "bytes 0-9/99")], "gzip", {}, id="206"
        ),
        pytest.param("200 OK", [HTML, ("Content-Encoding", "br")], "gzip", {}, id="coded"),
        pytest.param(
            "200 OK",
            [HTML, ("Cache-Control", "public, No-Transform")],
            "gzip",
            {},
            id="no-transform",
        ),
        pytest.param("200 OK", [("Content-Type", "image/png")], "gzip", {}, id="type"),
        pytest.param("200 OK", [], "gzip", {}, id="no-type"),
        pytest.param("200 OK", [HTML, ("Content-Length", "499")], "gzip", {}, id="small-known"),
        pytest.param("200 OK", [HTML], "gzip", {"min_size": len(PAGE) + 1}, id="small-list"),
    ],
)
def test_left_alone(status: str, headers: Headers, accept: str, extra: dict[str, Any]) -> None:
    body = PAGE[:499] if any(v == "499" for _, v in headers) else PAGE
    result = get(GzipMiddleware(app_for([body], status=status, headers=headers), **extra), accept)
    assert result.headers == headers
    assert result.body == body


def test_range_request_not_compressed_but_varies() -> None:
    result = get(GzipMiddleware(app_for()), headers={"Range": "bytes=0-10"})
    assert result.header("Content-Encoding") is None
    assert result.header("Vary") == "Accept-Encoding"
    assert result.body == PAGE


def test_304_gets_vary_and_weak_etag_of_its_200() -> None:
    headers = [HTML, ("ETag", '"v1"')]
    result = get(GzipMiddleware(app_for([], status="304 Not Modified", headers=headers)))
    assert result.headers == [HTML, ("ETag", 'W/"v1"'), ("Vary", "Accept-Encoding")]
    assert result.body == b""


@pytest.mark.parametrize(
    ("patterns", "content_type", "expected"),
    [
        pytest.param(("text/*",), "Text/HTML; charset=utf-8", "gzip", id="wildcard-and-case"),
        pytest.param(("application/*+json",), "application/ld+json", "gzip", id="suffix"),
        pytest.param(("application/*+json",), "application/json", None, id="suffix-only"),
        pytest.param(("*/*",), "image/png", "gzip", id="everything"),
        pytest.param(("application/json",), "text/html", None, id="not-listed"),
    ],
)
def test_mime_types(patterns: tuple[str, ...], content_type: str, expected: str | None) -> None:
    app = app_for(headers=[("Content-Type", content_type)])
    result = get(GzipMiddleware(app, mime_types=patterns))
    assert result.header("Content-Encoding") == expected
    assert body_of(result) == PAGE


def test_default_types_include_json_js_xml_svg() -> None:
    for content_type in ("application/json", "text/javascript", "application/xml", "image/svg+xml"):
        assert GzipMiddleware(app_for()).compressible(content_type), content_type


# --- errors and close() ---------------------------------------------------------------------------


def test_error_page_replaces_pending_response() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [HTML])
        try:
            raise KeyError("boom")
        except KeyError:
            start_response(
                "500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info()
            )
        return [PAGE]

    result = get(GzipMiddleware(app))
    assert (result.status_code, result.header("Content-Type")) == (500, "text/plain")
    assert gzip.decompress(result.body) == PAGE


def test_exc_info_after_body_taken_is_reraised() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [HTML])
        yield PAGE
        try:
            raise KeyError("late")
        except KeyError:
            start_response("500 Internal Server Error", [HTML], sys.exc_info())

    with pytest.raises(KeyError, match="late"):
        get(GzipMiddleware(app))


@pytest.mark.parametrize("kind", ["generator", "lazy", "write"])
def test_closes_when_caller_stops_early(kind: str) -> None:
    seen: list[str] = []
    app = app_for([PAGE] * 3, kind=kind, seen=seen)
    outer = GzipMiddleware(app, max_buffer=0)(
        make_environ(headers={"Accept-Encoding": "gzip"}), _start
    )
    next(iter(outer))
    close(outer)
    assert seen == ["closed"]


def test_closes_when_iteration_fails() -> None:
    seen: list[str] = []
    app = app_for(["not bytes"], kind="generator", seen=seen)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        get(GzipMiddleware(app))
    assert seen == ["closed"]


def test_iterating_before_start_response_is_an_error() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        yield PAGE

    with pytest.raises(RuntimeError, match="PEP 3333"):
        get(GzipMiddleware(app))


def test_second_start_response_without_exc_info_is_an_error() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [HTML])
        start_response("200 OK", [HTML])
        return [PAGE]

    with pytest.raises(RuntimeError, match="PEP 3333"):
        get(GzipMiddleware(app))


# --- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        pytest.param({"min_size": -1}, ValueError, "min_size", id="min_size-negative"),
        pytest.param({"min_size": "500"}, TypeError, "min_size", id="min_size-str"),
        pytest.param({"max_buffer": True}, TypeError, "max_buffer", id="max_buffer-bool"),
        pytest.param({"level": 0}, ValueError, "level", id="level-0"),
        pytest.param({"level": 10}, ValueError, "level", id="level-10"),
        pytest.param({"level": "6"}, TypeError, "level", id="level-str"),
        pytest.param({"mime_types": "text/html"}, TypeError, "mime_types", id="types-str"),
        pytest.param({"mime_types": ["html"]}, ValueError, "mime_types", id="types-bad"),
        pytest.param({"mime_types": [b"text/html"]}, TypeError, "mime_types", id="types-bytes"),
        pytest.param({"encodings": ()}, ValueError, "encodings", id="encodings-empty"),
        pytest.param({"encodings": ("gzip", "gzip")}, ValueError, "encodings", id="encodings-dup"),
        pytest.param({"encodings": ("deflate",)}, ValueError, "deflate", id="encodings-unknown"),
        pytest.param({"gzip_backend": "pigz"}, ValueError, "gzip_backend", id="backend-unknown"),
    ],
)
def test_bad_options(options: dict[str, Any], error: type[Exception], names: str) -> None:
    with pytest.raises(error, match=names):
        GzipMiddleware(app_for(), **options)


def test_app_must_be_callable() -> None:
    with pytest.raises(TypeError, match="app"):
        GzipMiddleware("app")  # type: ignore[arg-type]


# --- the codec layer ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", list(GZIP_BACKENDS))
@pytest.mark.parametrize("level", [1, 6, 9])
def test_gzip_backends_write_valid_gzip(backend: str, level: int) -> None:
    codec = make_codec("gzip", level, backend)
    stream = codec.compressor()
    out = stream.compress(PAGE[:100]) + stream.flush()
    assert zlib.decompressobj(31).decompress(out) == PAGE[:100]  # a sync flush is decodable
    out += stream.compress(PAGE[100:]) + stream.finish()
    assert gzip.decompress(out) == PAGE
    assert gzip.decompress(codec.compress_all([PAGE])) == PAGE
    assert (codec.name, codec.backend) == ("gzip", backend)


@pytest.mark.parametrize("name", ["br", "zstd"])
def test_extra_codecs_round_trip(name: str) -> None:
    codec = make_codec(name, 6)
    stream = codec.compressor()
    out = stream.compress(PAGE) + stream.flush() + stream.finish()
    assert decode(name, out) == PAGE
    assert decode(name, codec.compress_all([PAGE[:10], PAGE[10:]])) == PAGE


def test_zstd_window_within_rfc_9659_limit() -> None:
    stream = make_codec("zstd", 9).compressor()
    frame = stream.compress(PAGE) + stream.finish()
    assert zstandard.get_frame_parameters(frame).window_size <= 8 * 1024 * 1024


@pytest.mark.parametrize("name", ["br", "zstd", "zlib-ng"])
def test_missing_package_is_a_clear_error(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compressors, "_import", lambda module: None)
    with pytest.raises(ValueError, match="pip install"):
        if name == "zlib-ng":
            make_codec("gzip", 6, "zlib-ng")
        else:
            make_codec(name, 6)
