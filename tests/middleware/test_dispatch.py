"""Dispatcher: longest-prefix mounts on segment boundaries, hosts, redirects, 404s, Flask."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from flask import Flask, url_for

from wsgikit.middleware.dispatch import Dispatcher
from wsgikit.testing import Result, call_app, check_middleware, make_environ
from wsgikit.types import StartResponse, WSGIApplication, WSGIEnvironment


def named(name: str) -> WSGIApplication:
    """An app that answers with its name and the SCRIPT_NAME / PATH_INFO it was given."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = json.dumps(
            {
                "app": name,
                "script": environ.get("SCRIPT_NAME"),
                "path": environ.get("PATH_INFO"),
            }
        ).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


def route(dispatcher: Dispatcher, path: str = "/", **environ: Any) -> dict[str, str]:
    result = call_app(dispatcher, make_environ(path, **environ))
    assert result.status_code == 200, result.status
    answer: dict[str, str] = json.loads(result.body)
    return answer


def route_environ(dispatcher: Dispatcher, environ: WSGIEnvironment) -> str:
    answer: dict[str, str] = json.loads(call_app(dispatcher, environ).body)
    return answer["app"]


@pytest.fixture
def site() -> Dispatcher:
    return Dispatcher(
        {
            "/": named("root"),
            "/foo": named("foo"),
            "/foo/bar": named("foobar"),
            "/api/v1/": named("v1"),
        }
    )


@pytest.mark.parametrize(
    "options",
    [pytest.param({}, id="defaults"), pytest.param({"redirect_slash": False}, id="no-redirect")],
)
@pytest.mark.parametrize("key", ["/zoo", "/", "http://localhost/zoo"])
def test_passes_check_middleware(options: dict[str, Any], key: str) -> None:
    # The zoo requests /zoo/<case>: mount the inner app where they land.
    check_middleware(lambda app, **kw: Dispatcher({key: app}, **kw), **options)


@pytest.mark.parametrize(
    ("path", "app", "script", "rest"),
    [
        pytest.param("/foo/x", "foo", "/foo", "/x", id="prefix"),
        pytest.param("/foo/bar/x/y", "foobar", "/foo/bar", "/x/y", id="longest-wins"),
        pytest.param("/foo/barn", "foo", "/foo", "/barn", id="segment-boundary-deep"),
        pytest.param("/foobar", "root", "", "/foobar", id="segment-boundary"),
        pytest.param("/foo/", "foo", "/foo", "/", id="trailing-slash"),
        pytest.param("/api/v1/users", "v1", "/api/v1", "/users", id="key-with-slash"),
        pytest.param("/api/v2", "root", "", "/api/v2", id="sibling"),
        pytest.param("/", "root", "", "/", id="root"),
        pytest.param("", "root", "", "", id="empty-path"),
    ],
)
def test_longest_prefix_on_segment_boundaries(
    site: Dispatcher, path: str, app: str, script: str, rest: str
) -> None:
    assert route(site, path) == {"app": app, "script": script, "path": rest}


@pytest.mark.parametrize(
    ("path", "rest"),
    [
        pytest.param("/foo//x", "//x", id="double-slash"),
        pytest.param("/foo/x//y/", "/x//y/", id="inner-double-slash"),
        pytest.param("/foo/a%2Fb", "/a%2Fb", id="percent"),
        pytest.param("/foo/./x", "/./x", id="dot-segment"),
    ],
)
def test_path_info_keeps_the_rest_exactly(site: Dispatcher, path: str, rest: str) -> None:
    assert route(site, path)["path"] == rest


def test_script_name_grows_by_the_prefix(site: Dispatcher) -> None:
    assert route(site, "/foo/x", SCRIPT_NAME="/outer")["script"] == "/outer/foo"


def test_environ_is_updated_in_place(site: Dispatcher) -> None:
    # Like werkzeug's and paste's dispatchers: no copy a request (see the Dispatcher docstring).
    environ = make_environ("/foo/x")
    call_app(site, environ)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/foo", "/x")


def test_script_name_may_be_absent(site: Dispatcher) -> None:
    environ = make_environ("/foo/x")
    del environ["SCRIPT_NAME"]
    result = call_app(site, environ)
    assert json.loads(result.body)["script"] == "/foo"


def test_path_info_may_be_absent(site: Dispatcher) -> None:
    environ = make_environ("/")
    del environ["PATH_INFO"]
    assert json.loads(call_app(site, environ).body) == {"app": "root", "script": "", "path": ""}


@pytest.mark.parametrize("root", ["/", ""])
def test_root_mount_spellings(root: str) -> None:
    dispatcher = Dispatcher({root: named("root")})
    assert route(dispatcher, "/x") == {"app": "root", "script": "", "path": "/x"}


def test_nested_dispatchers_compose() -> None:
    inner = Dispatcher({"/b": named("inner")})
    outer = Dispatcher({"/a": inner})
    assert route(outer, "/a/b/c") == {"app": "inner", "script": "/a/b", "path": "/c"}


def test_non_ascii_key_matches_utf8_path() -> None:
    dispatcher = Dispatcher({"/café": named("cafe")})
    path = "/café/menu".encode().decode("latin-1")  # PEP 3333 bytes-as-str
    assert route(dispatcher, path)["path"] == "/menu"


class CountingDict(dict[str, WSGIApplication]):
    """A mount table that counts lookups."""

    probes = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.probes += 1
        return super().get(key, default)


def probes_for(mount_count: int, path: str) -> int:
    mounts = {f"/m{i:04}/{'x/' * (i % 7)}end": named(str(i)) for i in range(mount_count)}
    dispatcher = Dispatcher(mounts)
    assert dispatcher._fast is not None  # white box: count lookups in the any-host table
    table = CountingDict(dispatcher._fast[0])
    dispatcher._fast = (table, dispatcher._fast[1])
    call_app(dispatcher, make_environ(path))
    return table.probes


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/m0003/x/x/x/end/a/b/c/d/e/f/g/h", id="hit"),
        pytest.param("/m0006/x/x/x/x/x/x/end/a", id="hit-longest"),
        pytest.param("/nothing/here/at/all" + "/deep" * 20, id="miss"),
    ],
)
def test_lookup_cost_depends_on_path_depth_not_mount_count(path: str) -> None:
    few, many = probes_for(50, path), probes_for(5000, path)
    assert few == many
    assert 1 <= many <= path.count("/") + 1  # dict probes, at most one a segment


# -- redirects -----------------------------------------------------------------------------------


def test_prefix_without_slash_redirects(site: Dispatcher) -> None:
    result = call_app(site, make_environ("/foo"))
    assert result.status == "301 Moved Permanently"
    assert result.header("Location") == "/foo/"
    assert result.header("Content-Length") == str(len(result.body))


def test_redirect_keeps_the_query(site: Dispatcher) -> None:
    result = call_app(site, make_environ("/foo/bar", query="a=1&b=%20"))
    assert result.header("Location") == "/foo/bar/?a=1&b=%20"


def test_redirect_is_built_from_script_name(site: Dispatcher) -> None:
    result = call_app(site, make_environ("/foo", SCRIPT_NAME="/mounted here"))
    assert result.header("Location") == "/mounted%20here/foo/"


def test_redirect_never_points_at_another_host(site: Dispatcher) -> None:
    result = call_app(site, make_environ("/foo", SCRIPT_NAME="//evil.example"))
    assert result.header("Location") == "/evil.example/foo/"


def test_redirect_of_post_keeps_the_method(site: Dispatcher) -> None:
    result = call_app(site, make_environ("/foo", method="POST", body=b"x=1"))
    assert result.status == "308 Permanent Redirect"
    assert result.header("Location") == "/foo/"


def test_redirect_of_head_has_no_body(site: Dispatcher) -> None:
    result = call_app(site, make_environ("/foo", method="HEAD"))
    assert result.status_code == 301
    assert result.body == b""
    assert result.header("Content-Length") != "0"  # the GET response's length


def test_without_redirect_the_app_gets_empty_path_info() -> None:
    dispatcher = Dispatcher({"/foo": named("foo")}, redirect_slash=False)
    assert route(dispatcher, "/foo") == {"app": "foo", "script": "/foo", "path": ""}


# -- not found -----------------------------------------------------------------------------------


def test_nothing_mounted_is_a_plain_404() -> None:
    result = call_app(Dispatcher({"/foo": named("foo")}), make_environ("/bar"))
    assert result.status == "404 Not Found"
    assert result.header("Content-Type") == "text/plain; charset=utf-8"
    assert result.header("Content-Length") == str(len(result.body))
    assert b"Not Found" in result.body


def test_404_of_head_has_no_body() -> None:
    result = call_app(Dispatcher({}), make_environ("/bar", method="HEAD"))
    assert result.status_code == 404
    assert result.body == b""


def test_not_found_app_gets_the_request_unchanged() -> None:
    dispatcher = Dispatcher({"/foo": named("foo")}, not_found=named("fallback"))
    assert route(dispatcher, "/bar/x") == {"app": "fallback", "script": "", "path": "/bar/x"}


def test_head_body_of_mounted_app_is_dropped(site: Dispatcher) -> None:
    result = call_app(site, make_environ("/foo/x", method="HEAD"))
    assert result.status_code == 200
    assert result.body == b""
    assert result.header("Content-Length") not in (None, "0")


# -- hosts ---------------------------------------------------------------------------------------


@pytest.fixture
def hosts() -> Dispatcher:
    return Dispatcher(
        {
            "/": named("any-root"),
            "/deep/er": named("any-deep"),
            "http://example.com/": named("example"),
            "http://example.com/shop": named("example-shop"),
            "https://secure.example.com/": named("secure"),
            "http://example.com:8080/": named("example-8080"),
            "http://[::1]:8000/v6": named("v6"),
        }
    )


@pytest.mark.parametrize(
    ("host", "scheme", "path", "app"),
    [
        pytest.param("example.com", "http", "/shop/x", "example-shop", id="host-prefix"),
        pytest.param("EXAMPLE.Com", "http", "/x", "example", id="case-insensitive"),
        pytest.param("example.com:80", "http", "/x", "example", id="default-port-given"),
        pytest.param("example.com.", "http", "/x", "example", id="trailing-dot"),
        pytest.param("example.com", "http", "/deep/er/x", "example", id="host-before-any-host"),
        pytest.param("example.com", "https", "/x", "any-root", id="http-key-not-on-443"),
        pytest.param("example.com:8080", "http", "/x", "example-8080", id="explicit-port"),
        pytest.param("example.com:8081", "http", "/x", "any-root", id="other-port"),
        pytest.param("secure.example.com", "https", "/x", "secure", id="https-default"),
        pytest.param("secure.example.com:443", "https", "/x", "secure", id="https-443"),
        pytest.param("other.org", "http", "/deep/er/x", "any-deep", id="any-host"),
        pytest.param("[::1]:8000", "http", "/v6/x", "v6", id="ipv6"),
        pytest.param("[0:0::1]:8000", "http", "/v6/x", "v6", id="ipv6-spelling"),
        pytest.param("[::1]", "http", "/v6/x", "any-root", id="ipv6-other-port"),
        pytest.param("[::1:8000", "http", "/v6/x", "any-root", id="bad-ipv6"),
        pytest.param("exa mple.com", "http", "/x", "any-root", id="bad-host"),
    ],
)
def test_host_mounts(hosts: Dispatcher, host: str, scheme: str, path: str, app: str) -> None:
    environ = make_environ(path, headers={"Host": host}, scheme=scheme)
    assert route_environ(hosts, environ) == app


@pytest.mark.parametrize(
    ("name", "port", "app"),
    [
        pytest.param("example.com", "80", "example", id="server-name"),
        pytest.param("example.com", "8080", "example-8080", id="server-port"),
        pytest.param("::1", "8000", "v6", id="bare-ipv6-server-name"),
    ],
)
def test_host_from_server_name_when_no_host_header(
    hosts: Dispatcher, name: str, port: str, app: str
) -> None:
    environ = make_environ("/v6/x", SERVER_NAME=name, SERVER_PORT=port)
    del environ["HTTP_HOST"]
    assert route_environ(hosts, environ) == app


def test_mount_adds_and_replaces() -> None:
    dispatcher = Dispatcher({"/a": named("a")})
    dispatcher.mount("/b/c", named("bc"))
    dispatcher.mount("/a/", named("a2"))
    assert route(dispatcher, "/b/c/d")["app"] == "bc"
    assert route(dispatcher, "/a/x")["app"] == "a2"


@pytest.mark.parametrize(
    ("host", "request_host", "scheme"),
    [
        pytest.param("api.example.com", "api.example.com", "http", id="bare-http"),
        pytest.param("api.example.com", "api.example.com", "https", id="bare-https"),
        pytest.param("api.example.com:9000", "api.example.com:9000", "http", id="port"),
        pytest.param("https://api.example.com", "API.example.com:443", "https", id="origin"),
    ],
)
def test_mount_for_a_host(host: str, request_host: str, scheme: str) -> None:
    dispatcher = Dispatcher({"/": named("any")})
    dispatcher.mount("/v1", named("api"), host=host)
    environ = make_environ("/v1/x", headers={"Host": request_host}, scheme=scheme)
    assert route_environ(dispatcher, environ) == "api"
    assert route(dispatcher, "/v1/x")["app"] == "any"  # Host: localhost


# -- bad configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("foo", id="no-leading-slash"),
        pytest.param("/a//b", id="empty-segment"),
        pytest.param("/a/../b", id="dot-dot"),
        pytest.param("/a?x=1", id="query"),
        pytest.param("/a\nb", id="control-char"),
        pytest.param("ftp://example.com/", id="scheme"),
        pytest.param("http:///x", id="no-host"),
        pytest.param("http://example.com:99999/", id="port-range"),
        pytest.param("http://example.com:http/", id="port-text"),
        pytest.param("http://[::1/", id="bad-ipv6"),
        pytest.param("http://user@example.com/", id="userinfo"),
        pytest.param("http://exa mple.com/", id="space-in-host"),
    ],
)
def test_invalid_key_is_a_value_error_naming_it(key: str) -> None:
    with pytest.raises(ValueError, match="mount key") as info:
        Dispatcher({key: named("x")})
    assert repr(key) in str(info.value)


def test_duplicate_places_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"'/a'.*'/a/'"):
        Dispatcher({"/a": named("1"), "/a/": named("2")})


untyped: Any = Dispatcher  # to call it with the wrong types on purpose


def mount_into_empty(prefix: str, host: str) -> None:
    Dispatcher({}).mount(prefix, named("a"), host=host)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        pytest.param(lambda: untyped([]), TypeError, "mounts", id="list-mounts"),
        pytest.param(lambda: untyped({"/a": 1}), TypeError, "'/a'", id="non-callable"),
        pytest.param(lambda: untyped({1: named("a")}), TypeError, "key", id="non-str-key"),
        pytest.param(lambda: untyped({}, not_found=3), TypeError, "not_found", id="not-found"),
        pytest.param(
            lambda: untyped({}, redirect_slash="no"), TypeError, "redirect_slash", id="redirect"
        ),
        pytest.param(lambda: mount_into_empty("/a", "a/b"), ValueError, "'a/b'", id="host"),
        pytest.param(lambda: mount_into_empty("http://x/a", "y"), ValueError, "host", id="hosts"),
        pytest.param(
            lambda: mount_into_empty("/a", "http://y/path"), ValueError, "prefix", id="host-path"
        ),
    ],
)
def test_bad_arguments_are_clear_errors(
    call: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call()


# -- a real framework ----------------------------------------------------------------------------


def make_flask() -> Flask:
    app = Flask("shop")

    @app.route("/items/<int:item>")
    def item(item: int) -> dict[str, str]:
        return {
            "self": url_for("item", item=item),
            "absolute": url_for("item", item=item, _external=True),
        }

    return app


def flask_get(dispatcher: Dispatcher, path: str, **environ: Any) -> Result:
    return call_app(dispatcher, make_environ(path, **environ))


def test_flask_url_for_includes_the_mount_prefix() -> None:
    result = flask_get(Dispatcher({"/shop": make_flask()}), "/shop/items/3")
    assert result.status_code == 200
    assert json.loads(result.body) == {
        "self": "/shop/items/3",
        "absolute": "http://localhost/shop/items/3",
    }


def test_flask_under_a_mounted_dispatcher() -> None:
    inner = Dispatcher({"/shop": make_flask()})
    outer = Dispatcher({"/site": inner})
    result = flask_get(outer, "/site/shop/items/7", SCRIPT_NAME="/app")
    assert json.loads(result.body)["self"] == "/app/site/shop/items/7"
