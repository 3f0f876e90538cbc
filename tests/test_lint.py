"""LintMiddleware: every rule caught and named, on the app side and on the server side; a correct
app passes through unchanged."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from tests.lint_helpers import (
    TEXT,
    Lenient,
    responding,
    run_app,
    using_input,
)
from wsgikit.lint import LintError, LintMiddleware
from wsgikit.testing import call_app, make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment


@pytest.mark.parametrize(
    ("app", "message"),
    [
        pytest.param(
            responding(b"200 OK"),
            "PEP 3333 (The start_response() Callable): status must be a str like '200 OK', "
            "got b'200 OK'",
            id="status-bytes",
        ),
        pytest.param(responding("200"), "like '200 OK', got '200'", id="status-no-reason"),
        pytest.param(responding("200  OK"), "like '200 OK'", id="status-double-space"),
        pytest.param(responding("200 OK "), "like '200 OK'", id="status-trailing-space"),
        pytest.param(responding("2000 OK"), "like '200 OK'", id="status-four-digits"),
        pytest.param(responding("2x0 OK"), "like '200 OK'", id="status-not-digits"),
        pytest.param(responding("200 OK\r\nX: y"), "like '200 OK'", id="status-crlf"),
        pytest.param(
            responding("099 Low"), "RFC 9112 §4: the status code must be 100-999", id="status-099"
        ),
        pytest.param(responding(headers=(TEXT,)), "headers must be a list", id="headers-tuple"),
        pytest.param(responding(headers=[list(TEXT)]), "(name, value) tuple", id="header-list"),
        pytest.param(
            responding(headers=[TEXT, ("A", "b", "c")]), "(name, value) tuple", id="header-3"
        ),
        pytest.param(
            responding(headers=[(b"X", "y"), TEXT]), "must be str", id="header-name-bytes"
        ),
        pytest.param(responding(headers=[TEXT, ("X", 1)]), "must be str", id="header-value-int"),
        pytest.param(
            responding(headers=[TEXT, ("Status", "404 Not Found")]),
            "wsgiref.validate: no 'Status' header",
            id="status-header",
        ),
        pytest.param(responding(headers=[TEXT, ("X Y", "z")]), "RFC 9110 §5.1", id="name-space"),
        pytest.param(responding(headers=[TEXT, ("X:Y", "z")]), "RFC 9110 §5.1", id="name-colon"),
        pytest.param(responding(headers=[TEXT, ("X-", "z")]), "RFC 9110 §5.1", id="name-ends-dash"),
        pytest.param(responding(headers=[TEXT, ("1X", "z")]), "RFC 9110 §5.1", id="name-digit"),
        pytest.param(
            responding(headers=[TEXT, ("X", "a\r\nSet-Cookie: evil")]),
            "RFC 9110 §5.5: header X has the control char '\\r'",
            id="value-crlf",
        ),
        pytest.param(responding(headers=[TEXT, ("X", "a\x00")]), "RFC 9110 §5.5", id="value-nul"),
        pytest.param(responding(headers=[TEXT, ("X", "a\x7f")]), "RFC 9110 §5.5", id="value-del"),
        pytest.param(responding(headers=[TEXT, ("X", " a")]), "whitespace", id="value-padded"),
        pytest.param(
            responding(headers=[TEXT, ("X", "caf\u20ac")]),
            "PEP 3333 (Unicode Issues)",
            id="value-not-latin1",
        ),
        pytest.param(
            responding(headers=[]),
            "wsgiref.validate: a 200 response needs a Content-Type header",
            id="no-content-type",
        ),
        pytest.param(
            responding("204 No Content", [TEXT], []),
            "wsgiref.validate: no Content-Type in a 204 response",
            id="content-type-on-204",
        ),
        pytest.param(
            responding(headers=[TEXT, ("Content-Length", "five")]),
            "RFC 9110 §8.6: Content-Length must be decimal digits",
            id="length-not-digits",
        ),
        pytest.param(
            responding(headers=[TEXT, ("Content-Length", "5"), ("Content-Length", "5")]),
            "RFC 9110 §8.6: more than one Content-Length",
            id="length-twice",
        ),
        pytest.param(
            responding("204 No Content", [("Content-Length", "0")], []),
            "RFC 9110 §8.6: a 204 response must not have a Content-Length",
            id="length-on-204",
        ),
        pytest.param(
            responding("103 Early Hints", [TEXT, ("Content-Length", "0")], []),
            "RFC 9110 §8.6: a 103 response must not have a Content-Length",
            id="length-on-1xx",
        ),
        pytest.param(
            responding(headers=[TEXT, ("Content-Length", "10")], body=[b"1234", b"567"]),
            "RFC 9110 §8.6: Content-Length says 10 but 7 body bytes were sent",
            id="length-short",
        ),
        pytest.param(
            responding(headers=[TEXT, ("Content-Length", "3")]),
            "RFC 9110 §8.6: Content-Length says 3 but 5 body bytes were sent",
            id="length-long",
        ),
        pytest.param(
            responding("204 No Content", [], [b"x"]),
            "RFC 9110 §15.3.5: 204 response has a body (1 bytes)",
            id="body-on-204",
        ),
        pytest.param(
            responding("304 Not Modified", [], [b"", b"xy"]),
            "RFC 9110 §15.4.5: 304 response has a body (2 bytes)",
            id="body-on-304",
        ),
        pytest.param(
            responding("100 Continue", [TEXT], [b"x"]),
            "RFC 9110 §15.2: 100 (1xx) response has a body",
            id="body-on-1xx",
        ),
        pytest.param(responding(body=["hello"]), "must yield bytes, got 'hello'", id="yield-str"),
        pytest.param(
            responding(body=[bytearray(b"hello")]), "must yield bytes", id="yield-bytearray"
        ),
    ],
)
def test_broken_response_is_named(app: WSGIApplication, message: str) -> None:
    with pytest.raises(LintError) as caught:
        run_app(app)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "name",
    [
        "Connection",
        "keep-alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
    ],
)
def test_hop_by_hop_header_is_refused(name: str) -> None:
    with pytest.raises(LintError, match=r"PEP 3333 \(Other HTTP Features\): hop-by-hop"):
        run_app(responding(headers=[TEXT, (name, "x")]))


def call_twice(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [TEXT])
    start_response("404 Not Found", [TEXT])
    return [b""]


def keyword_start_response(environ: WSGIEnvironment, start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", headers=[TEXT])
    return [b""]


def one_argument(environ: WSGIEnvironment, start_response: Any) -> Iterable[bytes]:
    start_response("200 OK")
    return [b""]


def bad_exc_info(environ: WSGIEnvironment, start_response: Any) -> Iterable[bytes]:
    start_response("500 Oops", [TEXT], "oops")
    return [b""]


def returns(value: Any) -> Any:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        start_response("200 OK", [TEXT])
        return value

    return app


def body_first(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
    yield b"early"
    start_response("200 OK", [TEXT])


def never_starts(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    return []


def writes_str(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [TEXT])("hello")  # type: ignore[arg-type]
    return []


def writes_on_204(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("204 No Content", [])(b"x")
    return []


class LyingLength:
    def __init__(self) -> None:
        self.items = [b"a", b"b"]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.items)

    def __len__(self) -> int:
        return 1


def lies_about_len(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [TEXT])
    return LyingLength()


def using_errors(action: Callable[[Any], object]) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        action(environ["wsgi.errors"])
        start_response("200 OK", [TEXT])
        return []

    return app


@pytest.mark.parametrize(
    ("app", "message"),
    [
        pytest.param(
            call_twice,
            "PEP 3333 (The start_response() Callable): start_response called a second time "
            "without exc_info",
            id="twice-without-exc-info",
        ),
        pytest.param(keyword_start_response, "positionally", id="start-response-keywords"),
        pytest.param(one_argument, "positionally, got 1 arguments", id="start-response-1-arg"),
        pytest.param(
            bad_exc_info, "exc_info must be None or a sys.exc_info() tuple", id="exc-info"
        ),
        pytest.param(returns(None), "must return an iterable of bytes", id="returns-none"),
        pytest.param(returns("hello"), "must return an iterable of bytes", id="returns-str"),
        pytest.param(returns(b"hello"), "must return an iterable of bytes", id="returns-bytes"),
        pytest.param(returns(42), "must return an iterable, got 42", id="returns-int"),
        pytest.param(body_first, "body data before start_response", id="body-first"),
        pytest.param(never_starts, "without calling start_response", id="never-starts"),
        pytest.param(
            writes_str, "PEP 3333 (The write() Callable): write() takes one bytes", id="write-str"
        ),
        pytest.param(writes_on_204, "RFC 9110 §15.3.5: 204 response has a body", id="write-204"),
        pytest.param(
            lies_about_len,
            "PEP 3333 (Specification Details): len(iterable) was 1 but it yielded 2 items",
            id="len-lies",
        ),
        pytest.param(using_input(lambda i: i.read(1, 2)), "read() takes at most one", id="read-2"),
        pytest.param(using_input(lambda i: i.read(size=1)), "and keywords ['size']", id="read-kw"),
        pytest.param(using_input(lambda i: i.read("1")), "size must be an int", id="read-str"),
        pytest.param(using_input(lambda i: i.readline(1, 2)), "at most one", id="readline-2"),
        pytest.param(using_input(lambda i: i.readlines(1, 2)), "at most one", id="readlines-2"),
        pytest.param(
            using_input(lambda i: i.close()),
            "PEP 3333 (Input and Error Streams): the application must not close wsgi.input",
            id="input-close",
        ),
        pytest.param(using_errors(lambda e: e.write(b"x")), "takes one str", id="errors-bytes"),
        pytest.param(
            using_errors(lambda e: e.writelines([b"x"])), "takes one str", id="errors-lines"
        ),
        pytest.param(
            using_errors(lambda e: e.close()), "must not close wsgi.errors", id="errors-close"
        ),
    ],
)
def test_broken_app_is_named(app: WSGIApplication, message: str) -> None:
    with pytest.raises(LintError) as caught:
        run_app(app)
    assert message in str(caught.value)


def test_read_without_size_is_refused_on_an_unterminated_input() -> None:
    app = using_input(lambda i: i.read())
    with pytest.raises(LintError, match=r"read\(\) takes one"):
        run_app(app, **{"wsgi.input_terminated": False})


def test_read_without_size_is_allowed_when_the_input_is_terminated() -> None:
    # wsgi.input_terminated: the stream ends itself (werkzeug reads form posts this way).
    assert run_app(using_input(lambda i: i.read()), body=b"abc") == b""


def test_body_on_head_is_named(hello_app: WSGIApplication) -> None:
    with pytest.raises(LintError, match=r"RFC 9110 §9\.3\.2: HEAD response has a body \(5 bytes\)"):
        run_app(hello_app, method="HEAD")


def test_allow_head_body_passes_the_body_on(hello_app: WSGIApplication) -> None:
    assert (
        Lenient().run(LintMiddleware(hello_app, allow_head_body=True), make_environ(method="HEAD"))
        == b"hello"
    )


def test_head_may_keep_the_get_content_length() -> None:
    app = responding(headers=[TEXT, ("Content-Length", "5")], body=[])
    assert run_app(app, method="HEAD") == b""


def test_304_may_keep_the_get_content_length() -> None:
    assert run_app(responding("304 Not Modified", [("Content-Length", "5")], [])) == b""


def test_exc_info_after_headers_sent_must_reraise() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [TEXT])
        yield b"partial"
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            start_response("500 Internal Server Error", [TEXT], sys.exc_info())
        yield b"error page"

    with pytest.raises(LintError, match=r"PEP 3333 \(Error Handling\): .* must re-raise"):
        Lenient(reraise=False).run(LintMiddleware(app))


def test_exc_info_after_headers_sent_propagates_the_servers_raise() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [TEXT])
        yield b"partial"
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            start_response("500 Internal Server Error", [TEXT], sys.exc_info())
        yield b"error page"

    lint = LintMiddleware(app)
    with pytest.raises(RuntimeError, match="boom"):
        Lenient().run(lint)
    assert lint.violations == []


def test_exc_info_before_the_body_is_passed_to_the_server() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT, ("Content-Length", "5")])
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            start_response("500 Internal Server Error", [TEXT], sys.exc_info())
        return [b"error"]

    server = Lenient()
    assert server.run(LintMiddleware(app)) == b"error"
    assert server.calls[1][0] == "500 Internal Server Error"
    assert isinstance(server.calls[1][2][1], RuntimeError)


def test_write_goes_to_the_server() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [TEXT, ("Content-Length", "10")])(b"hello")
        return [b"world"]

    assert Lenient().run(LintMiddleware(app)) == b"helloworld"


def test_correct_app_passes_unchanged(hello_app: WSGIApplication) -> None:
    lint = LintMiddleware(hello_app)
    assert call_app(lint) == call_app(hello_app)
    assert lint.violations == []
    lint.check_closed()


class Closing:
    def __init__(self) -> None:
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter([b"hello"])

    def close(self) -> None:
        self.closed = True


def test_close_reaches_the_app_iterable() -> None:
    body = Closing()
    lint = LintMiddleware(returns(body))
    call_app(lint)
    assert body.closed
    assert lint.unclosed == 0


def test_dropped_iterable_is_reported_and_closed(environ: WSGIEnvironment) -> None:
    body = Closing()
    lint = LintMiddleware(returns(body))
    iterable = lint(environ, Lenient().start_response)
    assert list(iterable) == [b"hello"]
    assert lint.unclosed == 1
    del iterable
    with pytest.raises(LintError, match=r"PEP 3333 \(Specification Details\): 1 iterable"):
        lint.check_closed()
    assert body.closed
    assert lint.unclosed == 0


def test_iteration_after_close_is_named(environ: WSGIEnvironment) -> None:
    lint = LintMiddleware(returns(Closing()))
    iterable = iter(lint(environ, Lenient().start_response))
    iterable.close()  # type: ignore[attr-defined]
    with pytest.raises(LintError, match="iterated after close"):
        next(iterable)


def test_violations_are_kept_when_the_app_swallows_them() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            start_response(b"200 OK", [TEXT])  # type: ignore[arg-type]
        except AssertionError:
            start_response("200 OK", [TEXT])
        return [b""]

    lint = LintMiddleware(app)
    Lenient().run(lint)
    assert len(lint.violations) == 1
    assert "status must be a str" in str(lint.violations[0])


def test_len_passes_through(environ: WSGIEnvironment) -> None:
    iterable: Any = LintMiddleware(returns([b"a"]))(environ, Lenient().start_response)
    assert len(iterable) == 1
    iterable.close()


def test_no_len_stays_no_len(environ: WSGIEnvironment) -> None:
    iterable: Any = LintMiddleware(returns(iter([b"a"])))(environ, Lenient().start_response)
    with pytest.raises(TypeError):
        len(iterable)
    assert iterable  # still true: a server may test `if iterable:`
    iterable.close()


def test_correct_input_and_errors_use_passes() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        data = stream.read(2) + stream.readline() + b"".join(stream.readlines()) + b"".join(stream)
        environ["wsgi.errors"].write("note\n")
        environ["wsgi.errors"].writelines(["a\n", "b\n"])
        environ["wsgi.errors"].flush()
        start_response("200 OK", [TEXT])
        return [data]

    env = make_environ(method="POST", body=b"line 1\nline 2\n")
    errors = env["wsgi.errors"]
    assert Lenient().run(LintMiddleware(app), env) == b"line 1\nline 2\n"
    assert errors.getvalue() == "note\na\nb\n"


def test_non_callable_app_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="needs a WSGI application"):
        LintMiddleware("app")  # type: ignore[arg-type]


def test_lint_error_is_an_assertion_error() -> None:
    assert issubclass(LintError, AssertionError)
