"""ErrorMiddleware's notify step, by mail: :class:`SMTPNotifier` sends each traceback.

Give an instance to :class:`~wsgikit.middleware.errors.ErrorMiddleware` as ``notify``; it is
called with ``(exc_info, environ)`` after each unhandled exception and sends one plain-text mail
(request line, error reference, traceback, environ with secrets masked)::

    notify = SMTPNotifier("mail.example.com", 587, "app@example.com", ["ops@example.com"],
                          security="starttls", username="app", password=os.environ["SMTP_PW"])
    app = ErrorMiddleware(app, notify=notify)

Sending blocks the failing request for at most ``timeout`` seconds a network step; a mail server
that is down is logged by the middleware and never becomes a second error for the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from wsgikit.middleware._request_text import MASK, QUERY_KEYS, is_secret, mask_query, request_line
from wsgikit.middleware.errors._debug import traceback_text
from wsgikit.middleware.errors._repr import safe_repr
from wsgikit.types import ExcInfo, WSGIEnvironment

__all__ = ["SMTPNotifier"]

_SECURITY = ("none", "starttls", "ssl")


def _address(option: str, value: object) -> str:
    # RFC 5321 §4.1.2: a path is one line; CR/LF would inject SMTP commands or headers.
    if not isinstance(value, str) or "@" not in value or any(c in value for c in "\r\n\0"):
        raise ValueError(f"SMTPNotifier: {option} must be an e-mail address, got {value!r}")
    return value


class SMTPNotifier:
    """Send one mail per reported error through an SMTP server (smtplib, imported lazily).

    ``security``: ``"none"`` (plain SMTP, e.g. a local relay), ``"starttls"`` (RFC 3207, usually
    port 587) or ``"ssl"`` (implicit TLS, usually port 465). ``username`` and ``password`` log in
    (AUTH) when both are given. Raises ValueError/TypeError naming the option for bad settings.
    Errors while sending (:class:`OSError`, :class:`smtplib.SMTPException`) propagate to the
    caller; ErrorMiddleware logs them.
    """

    __slots__ = (
        "from_addr",
        "host",
        "password",
        "port",
        "security",
        "subject_prefix",
        "timeout",
        "to_addrs",
        "username",
    )

    def __init__(
        self,
        host: str,
        port: int,
        from_addr: str,
        to_addrs: Sequence[str] | str,
        *,
        subject_prefix: str = "[wsgikit] ",
        timeout: float = 10.0,
        security: str = "none",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if not isinstance(host, str) or not host:
            raise ValueError(f"SMTPNotifier: host must be a non-empty str, got {host!r}")
        if type(port) is not int or not 0 < port < 65536:
            raise ValueError(f"SMTPNotifier: port must be an int in 1..65535, got {port!r}")
        recipients = [to_addrs] if isinstance(to_addrs, str) else list(to_addrs)
        if not recipients:
            raise ValueError("SMTPNotifier: to_addrs must name at least one address")
        if not isinstance(subject_prefix, str):
            raise TypeError(f"SMTPNotifier: subject_prefix must be a str, got {subject_prefix!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(f"SMTPNotifier: timeout must be a number > 0, got {timeout!r}")
        if security not in _SECURITY:
            raise ValueError(f"SMTPNotifier: security must be one of {_SECURITY}, got {security!r}")
        if (username is None) != (password is None):
            raise ValueError("SMTPNotifier: give both username and password, or neither")
        self.host = host
        self.port = port
        self.from_addr = _address("from_addr", from_addr)
        self.to_addrs = [_address("to_addrs", item) for item in recipients]
        self.subject_prefix = " ".join(subject_prefix.splitlines())
        self.timeout = float(timeout)
        self.security = security
        self.username = username
        self.password = password

    def __repr__(self) -> str:  # never shows the password
        return f"SMTPNotifier({self.host!r}, {self.port!r}, {self.from_addr!r}, {self.to_addrs!r})"

    def __call__(self, exc_info: ExcInfo, environ: WSGIEnvironment) -> None:
        self.send(self.build_message(exc_info, environ))

    def build_message(self, exc_info: ExcInfo, environ: WSGIEnvironment) -> EmailMessage:
        """The mail for one error: subject ``<prefix>ExcType: message``, a plain-text body."""
        exc = exc_info[1]
        try:
            summary = f"{type(exc).__qualname__}: {exc}"
        except Exception:
            summary = type(exc).__qualname__
        # Header values are one line (RFC 5322 §2.2); long subjects are cut, not folded badly.
        subject = " ".join(f"{self.subject_prefix}{summary}".split())[:200]
        lines = [
            f"Request: {request_line(environ)}",
            f"Error reference: {environ.get('wsgikit.error_id', '-')}",
            "",
            traceback_text(exc_info),
            "Environ:",
        ]
        for key in sorted(environ, key=str):
            name, value = str(key), environ[key]
            if is_secret(name):
                shown = MASK
            elif name in QUERY_KEYS and isinstance(value, str):
                shown = mask_query(value)
            else:
                shown = value if isinstance(value, str) else safe_repr(value)
            lines.append(f"  {name} = {shown}")
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.from_addr
        message["To"] = ", ".join(self.to_addrs)
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=self.from_addr.rpartition("@")[2] or None)
        message.set_content("\n".join(lines) + "\n")
        return message

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` to :attr:`to_addrs`; raises OSError / smtplib.SMTPException."""
        # Imported here: smtplib and ssl open sockets, and wsgikit's middleware layer never
        # imports I/O modules at import time (DESIGN.md "Layering").
        import smtplib  # noqa: PLC0415
        import ssl  # noqa: PLC0415

        client: smtplib.SMTP
        if self.security == "ssl":
            context = ssl.create_default_context()
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if self.username is not None and self.password is not None:
                client.login(self.username, self.password)
            client.send_message(message, self.from_addr, self.to_addrs)
