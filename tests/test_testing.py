"""wsgikit.testing: make_environ, call_app, check_middleware (which must catch broken middleware and
pass correct ones) and serve_in_thread."""

from __future__ import annotations

import http.client
import sys
import warnings
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.validate import check_environ  # type: ignore[attr-defined]

import pytest

from wsgikit.lint import LintError
from wsgikit.testing import Result, call_app, check_middleware, make_environ, serve_in_thread
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment

TEXT = ("Content-Type", "text/plain")

# --- middleware under test: one correct shape, and one broken variant per rule ----------------


class PassThrough:
    """The DESIGN.md shape: wrap start_response and the iterable, pass exc_info and close()."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def start(self, start_response: StartResponse) -> StartResponse:
        def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, headers, exc_info)

        return wrapped

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        inner = self.app(environ, self.start(start_response))
        return Body(inner, head=environ["REQUEST_METHOD"] == "HEAD", owner=self)

    def close_inner(self, inner: Iterable[bytes]) -> None:
        getattr(inner, "close", lambda: None)()


class Body:
    def __init__(self, inner: Iterable[bytes], *, head: bool, owner: PassThrough) -> None:
        self.inner, self.head, self.owner = inner, head, owner

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            if not self.head:  # RFC 9110 §9.3.2: no body on HEAD
                yield chunk

    def close(self) -> None:
        self.owner.close_inner(self.inner)


class DropsClose(PassThrough):
    def close_inner(self, inner: Iterable[bytes]) -> None:
        pass


class LosesExcInfo(PassThrough):
    def start(self, start_response: StartResponse) -> StartResponse:
        def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, headers)

        return wrapped


class StartsTwice(PassThrough):
    def start(self, start_response: StartResponse) -> StartResponse:
        def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            start_response(status, headers)
            return start_response(status, headers)

        return wrapped


class WrongLength(PassThrough):
    def start(self, start_response: StartResponse) -> StartResponse:
        def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            fixed = [
                (k, str(int(v) + 1) if k.lower() == "content-length" else v) for k, v in headers
            ]
            return start_response(status, fixed, exc_info)

        return wrapped


class BodyOnHead(PassThrough):
    """Replaces the body of HEAD responses with a fixed non-empty one."""

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "HEAD":
            return super().__call__(environ, start_response)
        inner = self.app(environ, start_response)
        try:
            for _ in inner:
                pass
        finally:
            self.close_inner(inner)
        return [b"HEAD body!"]


class Naive:
    """Returns the inner iterable as is: the simplest correct middleware."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.app(environ, start_response)


class RaisesItsOwn(PassThrough):
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise KeyError("mine")


class BreaksEnviron(PassThrough):
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        del environ["QUERY_STRING"]
        return super().__call__(environ, start_response)


class ChangesMethod(PassThrough):
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["REQUEST_METHOD"] = "PROPFIND"  # a token, but wsgiref.validate warns about it
        return super().__call__(environ, start_response)


class CloseRaises(PassThrough):
    def close_inner(self, inner: Iterable[bytes]) -> None:
        super().close_inner(inner)
        raise OSError("close failed")


class Buffering:
    """Collects the whole body, then sends it with a Content-Length (a correct buffering shape)."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        chunks: list[bytes] = []
        state: dict[str, Any] = {}

        def buffered(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info is not None and state.get("body"):  # PEP 3333: the app saw it "sent"
                raise exc_info[1].with_traceback(exc_info[2])
            state.update(status=status, headers=headers)
            return write

        def write(data: bytes) -> None:
            state["body"] = True
            chunks.append(data)

        inner = self.app(environ, buffered)
        try:
            for chunk in inner:
                state["body"] = state.get("body") or bool(chunk)
                chunks.append(chunk)
        finally:
            getattr(inner, "close", lambda: None)()
        body = b"".join(chunks)
        headers = [(k, v) for k, v in state["headers"] if k.lower() != "content-length"]
        code = int(state["status"][:3])
        if code >= 200 and code not in (204, 304):
            headers.append(("Content-Length", str(len(body))))
        start_response(state["status"], headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


class ErrorPage(PassThrough):
    """Turns an app failure before the body into a 500 page."""

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return super().__call__(environ, start_response)
        except Exception:
            start_response("500 Internal Server Error", [TEXT], sys.exc_info())
            return [b"sorry"]


class Tagging(PassThrough):
    """Has a keyword-only option, as middleware do."""

    def __init__(self, app: WSGIApplication, *, tag: str) -> None:
        super().__init__(app)
        self.tag = tag

    def start(self, start_response: StartResponse) -> StartResponse:
        def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, ("X-Tag", self.tag)], exc_info)

        return wrapped


# --- check_middleware ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "case", "rule"),
    [
        pytest.param(DropsClose, "list", "were never closed", id="drops-close"),
        pytest.param(
            LosesExcInfo,
            "exc-info",
            "start_response called a second time without exc_info",
            id="loses-exc-info",
        ),
        pytest.param(
            BodyOnHead,
            "head",
            "RFC 9110 §9.3.2: HEAD response has a body (10 bytes)",
            id="body-on-head",
        ),
        pytest.param(
            WrongLength, "list", "RFC 9110 §8.6: Content-Length says 13 but 12", id="wrong-length"
        ),
        pytest.param(
            StartsTwice, "list", "called a second time without exc_info", id="starts-twice"
        ),
        pytest.param(RaisesItsOwn, "list", "the middleware raised KeyError('mine')", id="raises"),
        pytest.param(
            BreaksEnviron, "list", "QUERY_STRING must be present (empty", id="breaks-environ"
        ),
        pytest.param(
            ChangesMethod,
            "list",
            "wsgiref.validate warned: Unknown REQUEST_METHOD: 'PROPFIND'",
            id="validate-warning",
        ),
        pytest.param(
            CloseRaises, "list", "raised from close(): OSError('close failed')", id="close-raises"
        ),
    ],
)
def test_check_middleware_names_the_case_and_rule(factory: Any, case: str, rule: str) -> None:
    with pytest.raises(AssertionError) as caught:
        check_middleware(factory)
    message = str(caught.value)
    assert message.startswith(f"check_middleware: case '{case}': ")
    assert rule in message


def test_failure_chains_what_the_stack_raised() -> None:
    with pytest.raises(AssertionError) as caught:
        check_middleware(RaisesItsOwn)
    assert isinstance(caught.value.__cause__, KeyError)


def test_inner_side_violations_say_where() -> None:
    with pytest.raises(AssertionError, match="between the middleware and the inner app"):
        check_middleware(DropsClose)


@pytest.mark.parametrize(
    "factory",
    [
        pytest.param(PassThrough, id="pass-through"),
        pytest.param(Buffering, id="buffering"),
        pytest.param(ErrorPage, id="error-page"),
    ],
)
def test_correct_middleware_passes(factory: Any) -> None:
    check_middleware(factory)  # returns None: every case passed


def test_options_reach_the_factory() -> None:
    check_middleware(Tagging, tag="x")
    with pytest.raises(TypeError):
        check_middleware(Tagging)


def test_non_callable_factory_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="needs a middleware factory"):
        check_middleware("gzip")  # type: ignore[arg-type]


def test_factory_returning_non_app_is_named() -> None:
    with pytest.raises(AssertionError, match="case 'list': the factory returned None"):
        check_middleware(lambda app: None)


# --- make_environ -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="default"),
        pytest.param({"method": "POST", "body": b"a=1"}, id="post"),
        pytest.param({"path": "/a/b?x=1&y=2"}, id="query-in-path"),
        pytest.param({"scheme": "https", "headers": {"Accept": "text/html"}}, id="https-headers"),
        pytest.param({"headers": [("Content-Type", "text/csv"), ("X-A", "1")]}, id="header-list"),
        pytest.param({"SCRIPT_NAME": "/app", "path": ""}, id="script-name"),
    ],
)
def test_make_environ_passes_wsgiref_validate(kwargs: dict[str, Any]) -> None:
    environ = make_environ(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_environ(environ)


def test_make_environ_defaults() -> None:
    env = make_environ()
    assert (env["REQUEST_METHOD"], env["SCRIPT_NAME"], env["PATH_INFO"]) == ("GET", "", "/")
    assert (env["SERVER_NAME"], env["SERVER_PORT"], env["HTTP_HOST"]) == (
        "localhost",
        "80",
        "localhost",
    )
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["QUERY_STRING"] == ""
    assert "CONTENT_LENGTH" not in env
    assert "CONTENT_TYPE" not in env
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.input"].read() == b""
    assert env["wsgi.input_terminated"] is True
    assert (env["wsgi.multithread"], env["wsgi.multiprocess"], env["wsgi.run_once"]) == (
        False,
        False,
        False,
    )


def test_make_environ_body_sets_length_type_and_input() -> None:
    env = make_environ(method="POST", body=b"a=1")
    assert (env["CONTENT_LENGTH"], env["CONTENT_TYPE"]) == ("3", "application/octet-stream")
    assert env["wsgi.input"].read() == b"a=1"


def test_make_environ_headers() -> None:
    env = make_environ(
        headers=[
            ("Content-Type", "text/csv"),
            ("X-Forwarded-For", "1.2.3.4"),
            ("Accept", "a"),
            ("accept", "b"),
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
            ("Host", "example.com"),
        ]
    )
    assert env["CONTENT_TYPE"] == "text/csv"
    assert "HTTP_CONTENT_TYPE" not in env
    assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"
    assert env["HTTP_ACCEPT"] == "a, b"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_HOST"] == "example.com"


def test_make_environ_query_and_scheme() -> None:
    env = make_environ("/search?q=wsgi", scheme="https")
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == ("/search", "q=wsgi")
    assert (env["wsgi.url_scheme"], env["SERVER_PORT"]) == ("https", "443")


def test_make_environ_keywords_win_verbatim() -> None:
    env = make_environ(
        "/x", SCRIPT_NAME="/app", REMOTE_ADDR="10.0.0.1", **{"wsgi.url_scheme": "https"}
    )
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/x")
    assert env["REMOTE_ADDR"] == "10.0.0.1"
    assert env["wsgi.url_scheme"] == "https"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"path": "relative"}, ValueError, id="relative-path"),
        pytest.param({"path": b"/"}, TypeError, id="bytes-path"),
        pytest.param({"path": "/?a=1", "query": "b=2"}, ValueError, id="two-queries"),
        pytest.param({"path": "/caf\u20ac"}, ValueError, id="path-not-latin1"),
        pytest.param({"method": "GE T"}, ValueError, id="method"),
        pytest.param({"scheme": "ftp"}, ValueError, id="scheme"),
        pytest.param({"body": "text"}, TypeError, id="str-body"),
        pytest.param({"headers": {"X": 1}}, TypeError, id="header-int"),
        pytest.param({"headers": {"X Y": "1"}}, ValueError, id="header-name"),
        pytest.param({"headers": {"X": "a\r\nB: c"}}, ValueError, id="header-crlf"),
        pytest.param({"headers": ["X: y"]}, TypeError, id="header-not-pair"),
    ],
)
def test_make_environ_bad_input(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        make_environ(**kwargs)


# --- call_app -----------------------------------------------------------------------------------


class Recorded:
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def test_call_app_result(hello_app: WSGIApplication) -> None:
    result = call_app(hello_app)
    assert result == Result("200 OK", 200, [TEXT, ("Content-Length", "5")], b"hello")


def test_result_header_lookup_ignores_case() -> None:
    result = Result("200 OK", 200, [("Set-Cookie", "a=1"), ("set-cookie", "b=2")], b"")
    assert result.header("SET-COOKIE") == "a=1"
    assert result.header_list("Set-Cookie") == ["a=1", "b=2"]
    assert result.header("X-Missing") is None
    assert result.header_list("X-Missing") == []


def test_call_app_passes_make_environ_arguments() -> None:
    def echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        data = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        return [environ["REQUEST_METHOD"].encode(), b" ", data]

    assert call_app(echo, method="PUT", body=b"data").body == b"PUT data"


def test_call_app_rejects_environ_and_arguments(hello_app: WSGIApplication) -> None:
    with pytest.raises(TypeError, match="not both"):
        call_app(hello_app, make_environ(), method="POST")


def test_call_app_closes_the_iterable() -> None:
    body = Recorded([b"hello"])

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        return body

    call_app(app)
    assert body.closed


def test_call_app_closes_then_propagates_errors() -> None:
    def failing() -> Iterator[bytes]:
        yield b"partial"
        raise RuntimeError("boom")

    body = Recorded(failing())

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        return body

    with pytest.raises(RuntimeError, match="boom"):
        call_app(app)
    assert body.closed


def test_call_app_collects_write() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])(b"hello, ")
        return [b"world"]

    assert call_app(app).body == b"hello, world"


def test_call_app_exc_info_before_body_replaces_the_response() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT])
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            start_response("500 Internal Server Error", [TEXT], sys.exc_info())
        return [b"error"]

    result = call_app(app)
    assert (result.status_code, result.body) == (500, b"error")


def test_call_app_exc_info_after_body_reraises() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [TEXT])
        yield b"partial"
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            start_response("500 Internal Server Error", [TEXT], sys.exc_info())
        yield b"error"

    with pytest.raises(RuntimeError, match="boom"):
        call_app(app)


def twice(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [TEXT])
    start_response("404 Not Found", [TEXT])
    return []


def early_body(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
    yield b"early"


def silent(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    return []


def bytes_status(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response(b"200 OK", [TEXT])  # type: ignore[arg-type]
    return []


def hop_by_hop(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [TEXT, ("Connection", "close")])
    return []


def yields_str(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [TEXT])
    return ["text"]  # type: ignore[list-item]


def returns_none(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
    start_response("200 OK", [TEXT])
    return None


@pytest.mark.parametrize(
    ("app", "rule"),
    [
        pytest.param(twice, "called a second time without exc_info", id="twice"),
        pytest.param(early_body, "body data before calling start_response", id="early-body"),
        pytest.param(silent, "finished without calling start_response", id="no-start-response"),
        pytest.param(bytes_status, "status must be a str", id="bytes-status"),
        pytest.param(hop_by_hop, "hop-by-hop", id="hop-by-hop"),
        pytest.param(yields_str, "not bytes", id="yields-str"),
        pytest.param(returns_none, "must return an iterable of bytes", id="returns-none"),
    ],
)
def test_call_app_is_a_strict_server(app: WSGIApplication, rule: str) -> None:
    with pytest.raises(LintError, match=rule):
        call_app(app)


# --- serve_in_thread ----------------------------------------------------------------------------


def test_serve_in_thread_serves_a_real_request(hello_app: WSGIApplication) -> None:
    with serve_in_thread(hello_app) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"hello")
            assert response.getheader("Content-Type") == "text/plain"
        finally:
            connection.close()


def test_serve_in_thread_stops_listening_on_exit(hello_app: WSGIApplication) -> None:
    with serve_in_thread(hello_app) as port:
        pass
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        with pytest.raises(ConnectionRefusedError):
            connection.request("GET", "/")
    finally:
        connection.close()


def test_serve_in_thread_on_ipv6_keeps_connections_alive(hello_app: WSGIApplication) -> None:
    with serve_in_thread(hello_app, host="::1") as port:
        connection = http.client.HTTPConnection("::1", port, timeout=5)
        try:
            for _ in range(2):
                connection.request("GET", "/")
                assert connection.getresponse().read() == b"hello"
            assert connection.sock is not None  # one connection served both requests
        finally:
            connection.close()


def test_plain_return_of_the_inner_iterable_passes() -> None:
    # A body the app itself sent on HEAD may pass through: the server drops it (PEP 3333).
    check_middleware(Naive)
