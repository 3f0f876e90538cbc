"""The app tests/middleware/test_errors_browser.py serves under ``wsgikit serve``: it fails three
frames deep with page data full of markup, behind ErrorMiddleware(debug=True).

Every payload, were it ever parsed as markup, would set ``window.pwned`` and the document title.
"""

from __future__ import annotations

from collections.abc import Iterable

from wsgikit.middleware.errors import ErrorMiddleware
from wsgikit.types import StartResponse, WSGIEnvironment

PAYLOADS = (
    "<script>window.pwned = 'script'; document.title = 'pwned'</script>",
    "<img src=x onerror=\"window.pwned = 'img'; document.title = 'pwned'\">",
    "</title></pre></td></tr></table><script>window.pwned = 'breakout'</script>",
    '"><svg onload="window.pwned = \'attribute\'">',
)
MESSAGE = "bad input " + " ".join(PAYLOADS)


def parse(text: str, depth: int) -> None:
    markup = {"payload": PAYLOADS[1], "depth": depth}  # a local the page shows
    if depth == 0:
        raise ValueError(MESSAGE)
    parse(text + markup["payload"], depth - 1)


def failing(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    comment = PAYLOADS[0] + PAYLOADS[2]  # a local the page shows
    parse(comment + PAYLOADS[3], 2)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"never"]


app = ErrorMiddleware(failing, debug=True)
