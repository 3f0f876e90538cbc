"""Hostile input never breaks BasicAuth, SignedCookies or CSRF: whatever the headers and body, the
answer is the app's or the middleware's own 401/403/413, never an exception (a 500)."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given
from hypothesis import strategies as st

from tests.middleware.csrf_helpers import page, visit
from wsgikit.middleware import CSRF, BasicAuth, SignedCookies
from wsgikit.testing import call_app, make_environ
from wsgikit.types import StartResponse, WSGIEnvironment

SECRET = "p" * 32
latin1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=200)
tokenish = st.sampled_from(
    ["Basic ", "basic", "wsgikit_csrf=", "user=", "multipart/form-data; boundary=", "https://"]
)
header = st.one_of(latin1, st.builds(lambda a, b: a + b, tokenish, latin1))


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    environ["wsgikit.signed_cookies"].get("user")
    token = str(environ["wsgikit.csrf_token"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [token.encode()]


STACK = BasicAuth(
    SignedCookies(CSRF(app, secret=SECRET, max_form_size=1000), secret=SECRET),
    realm="r",
    checker=lambda user, password, environ: password == "pw",
)


CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    'multipart/form-data; boundary="x"',
]
# Pieces of multipart bodies, so that the generated ones are often almost right.
PIECES = [b"--x", b"--x--", b"\r\n", b'Content-Disposition: form-data; name="csrf_token"']
PIECES += [b"; filename=", b"csrf_token=", b"&", b"%", b"\xff", b"A" * 86]
bodies = st.one_of(
    st.binary(max_size=2000),
    st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=20))).map(b"".join),
)


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    scheme=st.sampled_from(["http", "https"]),
    headers=st.fixed_dictionaries(
        {
            "Authorization": header,
            "Cookie": header,
            "Origin": header,
            "Referer": header,
            "Content-Type": st.one_of(header, st.sampled_from(CONTENT_TYPES)),
        }
    ),
    body=bodies,
)
def test_hostile_requests_get_a_clear_status(
    method: str, scheme: str, headers: dict[str, str], body: bytes
) -> None:
    environ = make_environ(method=method, scheme=scheme, body=body, headers=headers)
    assert call_app(STACK, environ).status_code in (200, 401, 403, 413)


TOKEN, COOKIE = visit(CSRF(page, secret=SECRET))
TOKEN_PARTS = {
    CONTENT_TYPES[0]: b"&csrf_token=" + TOKEN.encode() + b"&",
    CONTENT_TYPES[1]: b'\r\n--x\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
    + TOKEN.encode()
    + b"\r\n--x\r\n",
}


@given(
    before=bodies,
    after=bodies,
    content_type=st.sampled_from(CONTENT_TYPES[:2]),
    chunked=st.booleans(),
)
def test_a_form_body_reaches_the_app_whole(
    before: bytes, after: bytes, content_type: str, chunked: bool
) -> None:
    """Read for its token, the body is given to the app whole, CONTENT_LENGTH right."""
    seen: list[bytes] = []

    def reader(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.append(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        seen.append(environ["wsgi.input"].read(1))
        start_response("204 No Content", [])
        return []

    body = before + TOKEN_PARTS[content_type] + after
    result = call_app(
        CSRF(reader, secret=SECRET),
        method="POST",
        body=body,
        chunked=chunked,
        headers={"Content-Type": content_type, "Cookie": COOKIE},
    )
    # A prefix may end the form early (--x--) or hide the part: then 403, and no app call.
    assert (
        seen == [body, b""]
        if result.status_code == 204
        else (result.status_code, seen)
        == (
            403,
            [],
        )
    )
