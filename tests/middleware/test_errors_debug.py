"""ErrorMiddleware's debug page (structure, escaping, cut reprs, masked secrets, no code
execution) and SMTPNotifier (against a small SMTP server in this file)."""

from __future__ import annotations

import base64
import email
import email.policy
import re
import socket
import socketserver
import threading
from collections.abc import Iterable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from tests.middleware.errors_helpers import (
    BROWSER,
    RUNTIME_SECRET,
    Boom,
    fail_before_start,
    get,
)
from wsgikit.middleware.errors import ErrorMiddleware, SMTPNotifier
from wsgikit.middleware.errors import middleware as errors_module
from wsgikit.middleware.errors._debug import FIRST_FRAMES, LAST_FRAMES
from wsgikit.testing import Result, call_app, make_environ
from wsgikit.types import ExcInfo, StartResponse, WSGIApplication, WSGIEnvironment

# --- the debug page ----------------------------------------------------------------------------


def debug_page(app: WSGIApplication, **kwargs: Any) -> Result:
    headers = kwargs.pop("headers", {})
    return get(ErrorMiddleware(app, debug=True), headers={"Accept": BROWSER, **headers}, **kwargs)


def app_with_locals(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    user_name = "<img src=x onerror=alert(1)>"
    db_password = RUNTIME_SECRET
    huge = "x" * 100_000
    raise Boom(f"no such user {user_name} {db_password is None} {len(huge)}")


def test_debug_page_is_html_with_the_exception_in_the_title() -> None:
    result = debug_page(fail_before_start)
    assert result.header("Content-Type") == "text/html; charset=utf-8"
    assert b"<title>500 Internal Server Error: Boom: failed &lt;early&gt; &amp; loud" in result.body


def test_debug_page_lists_each_frame_with_source_and_the_failing_line() -> None:
    page = debug_page(fail_before_start).body.decode()
    assert page.count('<li class="frame">') == 2  # ErrorMiddleware.__call__, the app
    current = re.findall(r'<li class="current">(.*?)</li>', page)
    assert current[-1].strip() == "raise Boom(&quot;failed &lt;early&gt; &amp; loud&quot;)"


def test_debug_page_shows_locals_escaped() -> None:
    page = debug_page(app_with_locals).body.decode()
    assert "<th>user_name</th>" in page
    assert "&#x27;&lt;img src=x onerror=alert(1)&gt;&#x27;" in page
    assert "<img" not in page


def test_debug_page_cuts_long_reprs() -> None:
    page = debug_page(app_with_locals).body.decode()
    (row,) = re.findall(r"<th>huge</th><td><pre>(.*?)</pre>", page)
    assert len(row) < 1100 and "..." in row and row.endswith("(100000 characters in all)")


def test_debug_page_cuts_long_container_reprs() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        rows = [str(n) * 500 for n in range(50)]
        raise Boom(len(rows))

    page = debug_page(app).body.decode()
    (row,) = re.findall(r"<th>rows</th><td><pre>(.*?)</pre>", page)
    assert len(row) < 1100 and "more characters cut" in row


def test_debug_page_masks_secret_locals() -> None:
    page = debug_page(app_with_locals).body
    assert b"<th>db_password</th>" in page and RUNTIME_SECRET.encode() not in page


def test_debug_page_cuts_a_huge_exception_message() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise Boom("m" * 1_000_000)

    result = debug_page(app)
    assert len(result.body) < 50_000 and b"more characters cut" in result.body


def test_debug_page_survives_a_repr_that_raises() -> None:
    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("repr broke")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        thing = Weird()
        raise Boom(type(thing).__name__)

    page = debug_page(app).body
    # Not the words of the source line shown on the page: what the row itself holds.
    assert b"<th>thing</th><td><pre>&lt;repr failed: RuntimeError(&#x27;repr broke" in page


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("HTTP_COOKIE", "session=s3cr3t-cookie", id="cookie"),
        pytest.param("HTTP_AUTHORIZATION", "Bearer s3cr3t-bearer", id="authorization"),
        pytest.param("HTTP_X_API_TOKEN", "s3cr3t-token", id="token-header"),
        pytest.param("app.secret_key", "s3cr3t-key", id="secret-setting"),
        pytest.param("DB_PASSWORD", "s3cr3t-password", id="password"),
    ],
)
def test_debug_page_masks_secrets_in_the_environ(key: str, value: str) -> None:
    page = debug_page(fail_before_start, **{key: value}).body.decode()
    assert f"<th>{key}</th>" in page and value not in page


def test_debug_page_masks_secrets_in_dicts_and_header_pairs() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        settings = {"debug": True, "SECRET_KEY": RUNTIME_SECRET}
        headers = [("Set-Cookie", RUNTIME_SECRET), ("Content-Type", "text/plain")]
        raise Boom(f"{len(settings)} {len(headers)}")

    page = debug_page(app).body.decode()
    assert RUNTIME_SECRET not in page
    assert "&#x27;debug&#x27;: True" in page and "&#x27;text/plain&#x27;" in page


def test_debug_page_shows_the_environ_once_not_in_every_frame() -> None:
    page = debug_page(fail_before_start, HTTP_COOKIE="sid=s3cr3t").body.decode()
    rows = re.findall(r"<th>environ</th><td><pre>(.*?)</pre>", page)
    assert len(rows) == 2  # the frames of ErrorMiddleware.__call__ and of the app
    assert all("see &#x27;Request environ&#x27; below" in row for row in rows)
    assert "s3cr3t" not in page


def test_debug_page_masks_secret_query_parameters() -> None:
    page = debug_page(fail_before_start, query="user=ann&access_token=s3cr3t").body
    assert b"user=ann" in page and b"s3cr3t" not in page


def test_debug_page_escapes_the_environ() -> None:
    page = debug_page(fail_before_start, HTTP_USER_AGENT="<script>alert(1)</script>").body
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_debug_page_cannot_run_code() -> None:
    result = debug_page(app_with_locals, HTTP_REFERER="javascript:alert(1)//<script>")
    page = result.body.lower()
    for marker in (b"<script", b"<form", b"<input", b"<iframe", b"<img", b"<a ", b"<link"):
        assert marker not in page
    assert "default-src 'none'" in (result.header("Content-Security-Policy") or "")


def test_debug_page_shows_the_exception_chain_oldest_first() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        empty: dict[str, int] = {}
        try:
            empty["missing"]
        except KeyError as exc:
            raise Boom("lookup failed") from exc
        return []

    page = debug_page(app).body.decode()
    page = page[page.index("<section") :]  # after the title and heading, which name the last
    first, note, second = (
        page.index("KeyError: &#x27;missing&#x27;"),
        page.index("direct cause of the following exception"),
        page.index("Boom: lookup failed"),
    )
    assert first < note < second


def test_debug_page_caps_deep_tracebacks() -> None:
    def recurse(depth: int) -> None:
        if depth == 0:
            raise Boom("deep")
        recurse(depth - 1)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        recurse(300)
        return []

    page = debug_page(app).body.decode()
    assert page.count('<li class="frame">') == FIRST_FRAMES + LAST_FRAMES
    assert "frames omitted" in page


def test_debug_page_notes_missing_source() -> None:
    namespace: dict[str, Any] = {"Boom": Boom}
    exec(
        compile("def app(environ, start_response):\n    raise Boom('x')\n", "<gen>", "exec"),
        namespace,
    )
    assert b"source not available" in debug_page(namespace["app"]).body


def test_debug_page_falls_back_when_rendering_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> bytes:
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(errors_module, "render_html", broken)
    result = debug_page(fail_before_start)
    assert result.status_code == 500 and b"Internal Server Error" in result.body
    assert "renderer broke" in caplog.text


def test_a_failing_error_page_still_gives_a_500(caplog: pytest.LogCaptureFixture) -> None:
    class Custom(ErrorMiddleware):
        def error_page(self, environ: WSGIEnvironment, exc_info: ExcInfo) -> Any:
            raise RuntimeError("custom page broke")

    result = get(Custom(fail_before_start))
    assert (result.status_code, result.body) == (500, b"500 Internal Server Error\n")
    assert "custom page broke" in caplog.text


@pytest.mark.parametrize(
    "accept",
    [pytest.param("text/plain", id="plain"), pytest.param("application/json", id="json")],
)
def test_debug_details_in_plain_text_and_json(accept: str) -> None:
    result = get(ErrorMiddleware(fail_before_start, debug=True), headers={"Accept": accept})
    assert b"Traceback (most recent call last)" in result.body
    assert b"failed <early> & loud" in result.body


# --- SMTPNotifier --------------------------------------------------------------------------------


class SMTPSink(socketserver.TCPServer):
    """A minimal SMTP server (RFC 5321 subset, AUTH PLAIN) that keeps what it receives."""

    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SMTPHandler)
        self.mails: list[dict[str, Any]] = []
        self.port: int = self.server_address[1]


class SMTPHandler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        mail: dict[str, Any] = {"to": [], "auth": None}
        self.reply("220 sink ESMTP")
        while line := self.rfile.readline():
            verb, _, rest = line.decode().strip().partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.reply("250-sink")
                self.reply("250 AUTH PLAIN")
            elif verb == "AUTH":
                mail["auth"] = base64.b64decode(rest.split()[1]).split(b"\0")[1:]
                self.reply("235 2.7.0 accepted")
            elif verb == "MAIL":
                mail["from"] = rest
                self.reply("250 OK")
            elif verb == "RCPT":
                mail["to"].append(rest)
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = b"".join(iter(self.rfile.readline, b".\r\n"))
                mail["data"] = data.decode()
                self.server.mails.append(mail)  # type: ignore[attr-defined]
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


@pytest.fixture
def smtp_sink() -> Iterator[SMTPSink]:
    server = SMTPSink()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def notifier(port: int, **kwargs: Any) -> SMTPNotifier:
    return SMTPNotifier("127.0.0.1", port, "app@example.com", ["ops@example.com"], **kwargs)


def received(sink: SMTPSink) -> EmailMessage:
    (mail,) = sink.mails
    message = email.message_from_string(mail["data"], policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_smtp_notifier_mails_the_traceback(smtp_sink: SMTPSink) -> None:
    environ = make_environ("/boom", HTTP_COOKIE="sid=s3cr3t")
    call_app(ErrorMiddleware(fail_before_start, notify=notifier(smtp_sink.port)), environ)
    # RFC 5321 §2.4: SMTP verbs and keywords are case-insensitive (smtplib 3.13 sends "from:").
    assert smtp_sink.mails[0]["from"].upper() == "FROM:<APP@EXAMPLE.COM>"
    assert [to.upper() for to in smtp_sink.mails[0]["to"]] == ["TO:<OPS@EXAMPLE.COM>"]
    message = received(smtp_sink)
    assert message["Subject"] == "[wsgikit] Boom: failed <early> & loud"
    text = message.get_content()
    assert "GET /boom HTTP/1.1" in text and "Traceback (most recent call last)" in text
    assert f"Error reference: {environ['wsgikit.error_id']}" in text


def test_smtp_notifier_masks_secrets(smtp_sink: SMTPSink) -> None:
    environ = make_environ("/boom", HTTP_COOKIE="sid=s3cr3t", QUERY_STRING="token=s3cr3t")
    call_app(ErrorMiddleware(fail_before_start, notify=notifier(smtp_sink.port)), environ)
    text = received(smtp_sink).get_content()
    assert "s3cr3t" not in text and "HTTP_COOKIE = ******** (masked)" in text


def test_smtp_notifier_logs_in(smtp_sink: SMTPSink) -> None:
    notify = notifier(smtp_sink.port, username="app", password="pw")
    call_app(ErrorMiddleware(fail_before_start, notify=notify), make_environ())
    assert smtp_sink.mails[0]["auth"] == [b"app", b"pw"]


def test_smtp_notifier_keeps_the_subject_on_one_line(smtp_sink: SMTPSink) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise Boom("two\r\nBcc: victim@example.com")

    call_app(ErrorMiddleware(app, notify=notifier(smtp_sink.port)), make_environ())
    message = received(smtp_sink)
    assert message["Bcc"] is None
    assert message["Subject"] == "[wsgikit] Boom: two Bcc: victim@example.com"


def test_smtp_server_down_is_logged_and_the_page_still_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: connection refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = get(ErrorMiddleware(fail_before_start, notify=notifier(port, timeout=2)))
    assert result.status_code == 500
    assert "notify" in caplog.text and "ConnectionRefusedError" in caplog.text


def test_smtp_notifier_repr_hides_the_password() -> None:
    assert "pw" not in repr(notifier(25, username="app", password="pw"))


@pytest.mark.parametrize(
    ("args", "kwargs", "name"),
    [
        pytest.param(("", 25, "a@b", "c@d"), {}, "host", id="host"),
        pytest.param(("h", 0, "a@b", "c@d"), {}, "port", id="port"),
        pytest.param(("h", "25", "a@b", "c@d"), {}, "port", id="port-str"),
        pytest.param(("h", 25, "nobody", "c@d"), {}, "from_addr", id="from"),
        pytest.param(("h", 25, "a@b\r\nRCPT TO:<x@y>", "c@d"), {}, "from_addr", id="from-crlf"),
        pytest.param(("h", 25, "a@b", []), {}, "to_addrs", id="no-recipients"),
        pytest.param(("h", 25, "a@b", ["c@d\n"]), {}, "to_addrs", id="to-crlf"),
        pytest.param(("h", 25, "a@b", "c@d"), {"timeout": 0}, "timeout", id="timeout"),
        pytest.param(("h", 25, "a@b", "c@d"), {"security": "tls"}, "security", id="security"),
        pytest.param(("h", 25, "a@b", "c@d"), {"username": "u"}, "password", id="half-login"),
    ],
)
def test_smtp_notifier_refuses_bad_settings(
    args: tuple[Any, ...], kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        SMTPNotifier(*args, **kwargs)


def test_smtplib_is_imported_only_when_sending() -> None:
    # DESIGN.md "Layering": the middleware layer opens no I/O modules at import time.
    import ast

    from wsgikit.middleware.errors import _mail

    with open(_mail.__file__, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    top_level = {
        alias.name
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    } | {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert not top_level & {"smtplib", "ssl", "socket"}
