"""ErrorDocuments: the body of documented statuses replaced by an internal sub-request (GET, no
body, original status and headers kept, fresh Content-Length), fallbacks when the document fails,
loops answered with a plain 500, and the redirect mode (internal=False)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from wsgikit.middleware.error_documents import ErrorDocuments
from wsgikit.middleware.errors import ErrorMiddleware
from wsgikit.testing import Result, call_app, check_middleware, make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

DOCUMENTS = {404: "/errors/404", 500: "/errors/500"}
TEXT = ("Content-Type", "text/plain")


class Site:
    """An app with a few failing routes and the error pages under /errors/; it records the
    environ of every request it gets."""

    def __init__(self) -> None:
        self.requests: list[WSGIEnvironment] = []
        self.closed: list[str] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.requests.append(dict(environ))
        path = environ["PATH_INFO"]
        if path.startswith("/errors/"):
            body = f"<h1>sorry: {environ.get('wsgikit.error_documents.status')}</h1>".encode()
            start_response(
                "200 OK",
                [
                    ("Content-Type", "text/html; charset=utf-8"),
                    ("Content-Language", "en"),
                    ("Vary", "Accept-Language"),
                    ("X-From", "document"),
                ],
            )
            return Tracked(self, path, [body])
        if path == "/private":
            start_response(
                "401 Unauthorized",
                [TEXT, ("WWW-Authenticate", 'Basic realm="x"'), ("Content-Length", "6"),
                 ("ETag", '"original"')],
            )  # fmt: skip
            return Tracked(self, path, [b"denied"])
        if path == "/ok":
            start_response("200 OK", [TEXT, ("Content-Length", "5")])
            return Tracked(self, path, [b"hello"])
        start_response(
            "404 Not Found",
            [TEXT, ("Content-Length", "9"), ("Set-Cookie", "seen=1"), ("Content-Language", "fr")],
        )
        return Tracked(self, path, [b"not found"])


class Tracked:
    """A body that records close() in its site."""

    def __init__(self, site: Site, path: str, chunks: Iterable[bytes]) -> None:
        self.site, self.path, self.chunks = site, path, chunks

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.site.closed.append(self.path)


def get(app: WSGIApplication, path: str = "/missing", **kwargs: Any) -> Result:
    return call_app(app, path=path, **kwargs)


# --- conformance -----------------------------------------------------------------------------


def as_404(app: WSGIApplication) -> WSGIApplication:
    """For the zoo: serve /errors/404 here and turn the zoo's 200s into 404s, so that the zoo's
    responses are the ones replaced."""

    def wrapped(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/errors/404":
            start_response("200 OK", [("Content-Type", "text/html")])
            return [b"<h1>not found</h1>"]

        def retag(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(
                "404 Not Found" if status == "200 OK" else status, headers, exc_info
            )

        return app(environ, retag)

    return wrapped


@pytest.mark.parametrize(
    ("factory", "options"),
    [
        pytest.param(ErrorDocuments, {"documents": DOCUMENTS}, id="internal"),
        pytest.param(ErrorDocuments, {"documents": DOCUMENTS, "internal": False}, id="redirect"),
        pytest.param(
            lambda app, **o: ErrorDocuments(as_404(app), {404: "/errors/404"}, **o),
            {},
            id="internal-replacing-every-response",
        ),
        pytest.param(
            lambda app, **o: ErrorDocuments(as_404(app), {404: "/errors/404"}, **o),
            {"internal": False},
            id="redirect-for-every-response",
        ),
    ],
)
def test_passes_check_middleware(factory: Callable[..., Any], options: dict[str, Any]) -> None:
    check_middleware(factory, **options)


# --- the replacement ------------------------------------------------------------------------------


def test_body_is_replaced_and_the_status_kept() -> None:
    result = get(ErrorDocuments(Site(), DOCUMENTS))
    assert result.status == "404 Not Found"
    assert result.body == b"<h1>sorry: 404 Not Found</h1>"


def test_replacement_has_a_fresh_content_length() -> None:
    result = get(ErrorDocuments(Site(), DOCUMENTS))
    assert result.header_list("Content-Length") == [str(len(result.body))]


def test_replacement_has_the_documents_body_headers() -> None:
    result = get(ErrorDocuments(Site(), DOCUMENTS))
    assert result.header("Content-Type") == "text/html; charset=utf-8"
    assert result.header_list("Content-Language") == ["en"]
    assert result.header("Vary") == "Accept-Language"
    assert result.header("X-From") is None  # not a body header: the document's own business


def test_replacement_keeps_the_originals_other_headers() -> None:
    result = get(ErrorDocuments(Site(), {401: "/errors/401"}), "/private")
    assert result.status_code == 401
    assert result.header("WWW-Authenticate") == 'Basic realm="x"'
    assert result.header("ETag") is None  # it described the original body


def test_replacement_keeps_set_cookie() -> None:
    assert get(ErrorDocuments(Site(), DOCUMENTS)).header("Set-Cookie") == "seen=1"


def test_subrequest_is_a_get_without_body() -> None:
    site = Site()
    get(ErrorDocuments(site, DOCUMENTS), method="POST", body=b"name=value")
    sub = site.requests[-1]
    assert (sub["REQUEST_METHOD"], sub["PATH_INFO"]) == ("GET", "/errors/404")
    assert "CONTENT_LENGTH" not in sub and "CONTENT_TYPE" not in sub
    assert sub["wsgi.input"].read() == b""


def test_subrequest_tells_the_original_request() -> None:
    site = Site()
    get(ErrorDocuments(site, DOCUMENTS), "/missing", query="q=1", method="POST")
    sub = site.requests[-1]
    assert sub["wsgikit.error_documents.status"] == "404 Not Found"
    assert sub["wsgikit.error_documents.path_info"] == "/missing"
    assert sub["wsgikit.error_documents.query_string"] == "q=1"
    assert sub["wsgikit.error_documents.method"] == "POST"


def test_subrequest_keeps_script_name_and_takes_the_targets_query() -> None:
    site = Site()
    get(ErrorDocuments(site, {404: "/errors/404?lang=en"}), "/missing", SCRIPT_NAME="/app")
    sub = site.requests[-1]
    assert (sub["SCRIPT_NAME"], sub["PATH_INFO"], sub["QUERY_STRING"]) == (
        "/app",
        "/errors/404",
        "lang=en",
    )


def test_subrequest_path_is_decoded_as_pep_3333_says() -> None:
    site = Site()
    get(ErrorDocuments(site, {404: "/errors/n%C3%A9ant"}))
    assert site.requests[-1]["PATH_INFO"] == "/errors/néant".encode().decode("latin-1")


def test_subrequest_drops_conditional_and_range_headers() -> None:
    site = Site()
    headers = {
        "If-None-Match": '"x"',
        "If-Modified-Since": "Sun, 06 Nov 1994",
        "Range": "bytes=0-1",
    }
    get(ErrorDocuments(site, DOCUMENTS), headers=headers)
    sub = site.requests[-1]
    assert not {"HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_RANGE"} & set(sub)


def test_original_and_document_bodies_are_closed() -> None:
    site = Site()
    get(ErrorDocuments(site, DOCUMENTS))
    assert site.closed == ["/missing", "/errors/404"]


def test_other_statuses_pass_untouched() -> None:
    site = Site()
    environ = make_environ("/ok")
    result = ErrorDocuments(site, DOCUMENTS)(environ, lambda s, h, e=None: lambda b: None)
    assert isinstance(result, Tracked)  # the app's own iterable: no wrapper, no cost a chunk


def test_head_gets_the_documents_headers_and_no_body() -> None:
    get_result = get(ErrorDocuments(Site(), DOCUMENTS))
    head_result = get(ErrorDocuments(Site(), DOCUMENTS), method="HEAD")
    assert (head_result.status_code, head_result.body) == (404, b"")
    assert head_result.header("Content-Length") == get_result.header("Content-Length")


def test_head_of_an_undocumented_status_drops_the_apps_body() -> None:
    site = Site()
    result = get(ErrorDocuments(site, DOCUMENTS), "/ok", method="HEAD")
    assert (result.status_code, result.body, site.closed) == (200, b"", ["/ok"])


def lazy_app(status: str) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"].startswith("/errors/"):
            start_response("200 OK", [TEXT])
            return [b"document"]

        def body() -> Iterator[bytes]:
            start_response(status, [TEXT])  # PEP 3333: as late as the first chunk
            yield b"first "
            yield b"second"

        return body()

    return app


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param("404 Not Found", b"document", id="replaced"),
        pytest.param("200 OK", b"first second", id="streamed"),
    ],
)
def test_lazy_start_response(status: str, body: bytes) -> None:
    result = get(ErrorDocuments(lazy_app(status), DOCUMENTS))
    assert (result.status, result.body) == (status, body)


def test_written_body_of_a_replaced_response_is_dropped() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"].startswith("/errors/"):
            start_response("200 OK", [TEXT])
            return [b"document"]
        start_response("404 Not Found", [TEXT])(b"written ")
        return [b"returned"]

    assert get(ErrorDocuments(app, DOCUMENTS)).body == b"document"


def test_status_set_again_with_exc_info_is_the_one_replaced() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"].startswith("/errors/"):
            start_response("200 OK", [TEXT])
            return [environ["wsgikit.error_documents.status"].encode()]
        start_response("200 OK", [TEXT])
        try:
            raise RuntimeError("late")
        except RuntimeError:
            start_response("500 Internal Server Error", [TEXT], sys.exc_info())
        return [b"traceback"]

    result = get(ErrorDocuments(app, DOCUMENTS))
    assert (result.status_code, result.body) == (500, b"500 Internal Server Error")


def test_nicer_page_for_error_middlewares_500() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/errors/500":
            start_response("200 OK", [("Content-Type", "text/html")])
            return [b"<h1>we broke it</h1>"]
        raise RuntimeError("boom")

    result = get(ErrorDocuments(ErrorMiddleware(app), DOCUMENTS))
    assert (result.status_code, result.body) == (500, b"<h1>we broke it</h1>")


def test_exceptions_of_the_app_propagate_and_its_body_is_closed() -> None:
    site = Site()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def body() -> Iterator[bytes]:
            raise RuntimeError("boom")
            yield b""

        return Tracked(site, "/boom", body())

    with pytest.raises(RuntimeError, match="boom"):
        get(ErrorDocuments(app, DOCUMENTS))
    assert site.closed == ["/boom"]


# --- when the document fails --------------------------------------------------------------------


def failing_documents(kind: str) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"].startswith("/errors/"):
            if kind == "raises":
                raise RuntimeError("the error page is broken")
            if kind == "bad-body":
                start_response("200 OK", [TEXT])
                return ["not bytes"]  # type: ignore[list-item]
            start_response(kind, [TEXT])
            return [b"document failed"]
        start_response("404 Not Found", [TEXT, ("X-Original", "1")])
        return [b"original"]

    return app


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("raises", id="raises"),
        pytest.param("404 Not Found", id="document-missing"),
        pytest.param("500 Internal Server Error", id="document-fails"),
        pytest.param("304 Not Modified", id="not-2xx"),
        pytest.param("bad-body", id="non-bytes-body"),
    ],
)
def test_failing_document_falls_back_to_the_status(kind: str) -> None:
    result = get(ErrorDocuments(failing_documents(kind), DOCUMENTS))
    assert (result.status, result.body) == ("404 Not Found", b"404 Not Found\n")
    assert result.header("Content-Length") == str(len(result.body))
    assert result.header("X-Original") == "1"


def test_failing_document_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    get(ErrorDocuments(failing_documents("raises"), DOCUMENTS))
    assert "/errors/404" in caplog.text and "the error page is broken" in caplog.text


# --- loops ---------------------------------------------------------------------------------------


def test_reentering_for_a_target_being_fetched_is_a_plain_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    environ = make_environ("/errors/404")
    environ["wsgikit.error_documents.chain"] = ("/errors/404",)  # inside a sub-request for it

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("404 Not Found", [TEXT])
        return [b"x"]

    result = call_app(ErrorDocuments(app, DOCUMENTS), environ)
    assert (result.status, result.body) == (
        "500 Internal Server Error",
        b"500 Internal Server Error\n",
    )
    assert any(r.levelno == logging.ERROR and "loop" in r.getMessage() for r in caplog.records)


def test_a_document_routed_back_through_the_middleware_terminates() -> None:
    # The error page re-dispatches through the whole stack to a URL that is itself a 404.
    stack: list[WSGIApplication] = []
    calls: list[str] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        calls.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/errors/404":
            return stack[0]({**environ, "PATH_INFO": "/still-missing"}, start_response)
        start_response("404 Not Found", [TEXT])
        return [b"x"]

    stack.append(ErrorDocuments(app, DOCUMENTS))
    result = get(stack[0])
    assert (result.status, result.body) == ("404 Not Found", b"404 Not Found\n")
    assert calls == ["/missing", "/errors/404", "/still-missing"]


# --- internal=False: redirects --------------------------------------------------------------------


def test_redirect_mode_sends_302_to_the_document_under_script_name() -> None:
    result = get(ErrorDocuments(Site(), DOCUMENTS, internal=False), SCRIPT_NAME="/app")
    assert result.status == "302 Found"
    assert result.header("Location") == "http://localhost/app/errors/404"
    assert result.header("Content-Length") == str(len(result.body))


def test_redirect_mode_takes_absolute_urls() -> None:
    documents = {404: "https://errors.example.com/404"}
    result = get(ErrorDocuments(Site(), documents, internal=False))
    assert result.header("Location") == "https://errors.example.com/404"


def test_redirect_mode_does_not_redirect_the_document_to_itself() -> None:
    result = get(ErrorDocuments(Site(), {404: "/nowhere"}, internal=False), "/nowhere")
    assert (result.status, result.body) == ("404 Not Found", b"404 Not Found\n")


# --- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("documents", "internal"),
    [
        pytest.param({"404": "/errors/404"}, True, id="str-status"),
        pytest.param({True: "/errors/404"}, True, id="bool-status"),
        pytest.param({302: "/errors/302"}, True, id="not-an-error"),
        pytest.param({600: "/errors/600"}, True, id="out-of-range"),
        pytest.param({404: "errors/404"}, True, id="relative"),
        pytest.param({404: ""}, True, id="empty"),
        pytest.param({404: "/errors/404\r\nX: y"}, False, id="crlf"),
        pytest.param({404: "/errors/not found"}, True, id="space"),
        pytest.param({404: "/errors/néant"}, True, id="not-percent-encoded"),
        pytest.param({404: "/errors/404#top"}, True, id="fragment"),
        pytest.param({404: "https://example.com/404"}, True, id="url-when-internal"),
        pytest.param({404: "ftp://example.com/404"}, False, id="not-http"),
        pytest.param({404: b"/errors/404"}, True, id="bytes"),
    ],
)
def test_bad_documents_are_refused(documents: dict[Any, Any], internal: bool) -> None:
    with pytest.raises(ValueError, match="ErrorDocuments: document"):
        ErrorDocuments(Site(), documents, internal=internal)


@pytest.mark.parametrize(
    ("args", "kwargs", "name"),
    [
        pytest.param((None, DOCUMENTS), {}, "app", id="app"),
        pytest.param((Site(), [(404, "/x")]), {}, "documents", id="documents"),
        pytest.param((Site(), DOCUMENTS), {"internal": "yes"}, "internal", id="internal"),
    ],
)
def test_bad_arguments_are_refused(
    args: tuple[Any, ...], kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(TypeError, match=name):
        ErrorDocuments(*args, **kwargs)


def test_document_is_fetched_under_this_layers_root_when_a_router_moved_it() -> None:
    # A Dispatcher (like werkzeug's or paste's) moves SCRIPT_NAME/PATH_INFO in place.
    from wsgikit.middleware import Dispatcher

    seen: dict[str, str] = {}

    def shop(environ: Any, start_response: Any) -> list[bytes]:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such item"]

    def documents(environ: Any, start_response: Any) -> list[bytes]:
        seen.update(script=environ["SCRIPT_NAME"], path=environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<h1>missing</h1>"]

    app = ErrorDocuments(Dispatcher({"/shop": shop, "/errors": documents}), {404: "/errors/404"})
    result = call_app(app, path="/shop/item/9", SCRIPT_NAME="/site")
    assert result.status_code == 404
    assert result.body == b"<h1>missing</h1>"
    assert seen == {"script": "/site/errors", "path": "/404"}
