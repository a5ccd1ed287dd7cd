"""One SMTP connection per batch, through Flask-Mail, keeping each server answer.

Flask-Mail's ``Connection`` opens the session (TLS, login) but neither sets a timeout nor
returns the server's reply to DATA; the delivery record needs both. ``TimedConnection`` adds the
timeout and ``transmit`` speaks MAIL/RCPT/DATA on the connection's socket so the reply (e.g.
``250 2.0.0 Ok: queued as 4F2A``) becomes the row's ``smtp_reply``.
"""

from __future__ import annotations

import functools
import re
import smtplib
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app
from flask_mail import Connection, Message, sanitize_address

# A plain ASCII mailbox that ``parseaddr`` returns unchanged and that passes every check of
# ``render.check_address``; anything else (names, quotes, comments, non-ASCII) takes the full
# parse. Here rather than in render so that the sender process need not import render.
PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)


class SmtpRefusal(smtplib.SMTPResponseException):
    """The server answered a command with a 4xx (temporary) or 5xx (permanent) code."""

    @property
    def temporary(self) -> bool:
        return 400 <= self.smtp_code < 500

    def __str__(self) -> str:
        return reply_text(self.smtp_code, self.smtp_error)


class NotOffered(SmtpRefusal):
    """The message needs an extension the server does not offer (SMTPUTF8 for an
    internationalised address, RFC 6531 §3.4): refused here, permanently, before MAIL FROM;
    the text says so rather than quoting a server answer that never came."""

    def __init__(self, text: str):
        super().__init__(0, text.encode())

    @property
    def temporary(self) -> bool:
        return False

    def __str__(self) -> str:
        error = self.smtp_error  # the bytes __init__ gave
        return error.decode() if isinstance(error, bytes) else error


def reply_text(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}".strip()


class TimedConnection(Connection):
    """Flask-Mail's connection, with ``MAIL_TIMEOUT_SECONDS`` on connect and every reply."""

    def configure_host(self) -> smtplib.SMTP:
        timeout = float(current_app.config.get("MAIL_TIMEOUT_SECONDS", 30))
        cls = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = cls(self.mail.server, self.mail.port, timeout=timeout)
        host.set_debuglevel(int(self.mail.debug))
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        host.ehlo_or_helo_if_needed()
        return host


@contextmanager
def smtp_connection():
    """Open one connection (raises OSError / SMTPException if the server is unreachable);
    closing never raises, even when the server has gone away."""
    conn = TimedConnection(current_app.extensions["mail"])
    conn.__enter__()
    try:
        yield conn
    finally:
        if conn.host is not None:
            try:
                conn.host.quit()
            except (OSError, smtplib.SMTPException):
                conn.host.close()


@dataclass(frozen=True, slots=True)
class Envelope:
    """What ``transmit`` needs of one message, small enough to pickle to the sender process:
    the outbox row's ``id``; ``sender`` and ``recipients`` as Flask-Mail's ``Message`` holds
    them (an address, or a (name, address) pair); ``smtputf8``: the first recipient's mailbox
    is internationalised; ``bad_headers``: ``Message.has_bad_headers()``, computed where the
    message was built; ``payload``: the message's bytes as they go after DATA."""

    id: int
    sender: str | tuple[str, str]
    recipients: tuple[str | tuple[str, str], ...]
    smtputf8: bool
    bad_headers: bool
    payload: bytes

    @classmethod
    def of(cls, row_id: int, msg: Message, payload: bytes | None = None) -> Envelope:
        """The envelope of ``msg`` (``payload``: its bytes, if already serialised)."""
        return cls(
            id=row_id,
            sender=msg.sender,
            recipients=tuple(msg.recipients),
            smtputf8=bool(getattr(msg, "smtputf8", False)),
            bad_headers=msg.has_bad_headers(),
            payload=msg.as_bytes() if payload is None else payload,
        )


def transmit(conn: TimedConnection, envelope: Envelope) -> str:
    """Send one message over ``conn``; returns the server's reply to DATA (e.g.
    ``"250 2.0.0 Ok: queued as 4F2A"``).

    Raises ``SmtpRefusal`` when the server refuses, or the message has bad headers (550,
    refused here), or ``NotOffered`` when it needs SMTPUTF8 and the server lacks it (the
    session stays usable in all three cases); OSError / ``SMTPServerDisconnected`` when the
    connection is lost, answers outside the protocol, or sending is suppressed (it is not).
    """
    if conn.host is None:  # MAIL_SUPPRESS_SEND: nothing would leave, so nothing counts
        raise smtplib.SMTPServerDisconnected("mail sending is suppressed (MAIL_SUPPRESS_SEND)")
    if envelope.bad_headers:
        raise SmtpRefusal(550, b"refused locally: header injection in the message")
    host = conn.host
    sender = envelope_address(envelope.sender)
    options: list[str] = []
    first = envelope.recipients[0]
    if envelope.smtputf8:
        if not host.has_extn("smtputf8"):
            raise NotOffered(
                f"not sent: {first} is an internationalised address, and the mail "
                "server does not offer SMTPUTF8 (RFC 6531), so it cannot be delivered through it"
            )
        options = ["SMTPUTF8"] + (["BODY=8BITMIME"] if host.has_extn("8bitmime") else [])
        # UTF-8 mailbox, punycode domain (render.wire_address)
        recipient = first if isinstance(first, str) else envelope_address(first)
    else:
        recipient = envelope_address(first)
    payload = envelope.payload
    for command, ok in (
        (lambda: host.mail(sender, options), (250,)),
        (lambda: host.rcpt(recipient), (250, 251)),
    ):
        code, text = command()
        if code not in ok:
            _refused(host, code, text)
    try:
        code, text = host.data(payload)
    except smtplib.SMTPDataError as exc:  # refused the DATA command itself
        _refused(host, exc.smtp_code, exc.smtp_error)
    if code != 250:
        _refused(host, code, text)
    return reply_text(code, text)


def _refused(host: smtplib.SMTP, code: int, text: bytes | str):
    """Raise what an unwanted answer means: a 4xx/5xx reply is the server's refusal
    (``SmtpRefusal``, the session reset and kept); anything else (a reply that is no SMTP
    reply, or a code no RFC 5321 command answers with here) leaves the session in an unknown
    state: the connection is closed and counted as lost, so the message is retried."""
    if 400 <= code < 600:
        _reset(host)
        raise SmtpRefusal(code, text)
    host.close()
    raise smtplib.SMTPServerDisconnected(
        f"the mail server answered outside the protocol: {reply_text(code, text)[:200]!r}"
    )


def envelope_address(address: str | tuple[str, str]) -> str:
    """Flask-Mail's ``sanitize_address`` (IDNA domain, encoded name), which leaves a plain
    ASCII mailbox as it is: those skip its parse, which cost more than the SMTP commands."""
    if isinstance(address, str) and PLAIN_ADDRESS.fullmatch(address):
        return address
    return _sanitized(address)


@functools.lru_cache(maxsize=64)
def _sanitized(address: str | tuple[str, str]) -> str:
    return sanitize_address(address)


def _reset(host: smtplib.SMTP) -> None:
    try:
        host.rset()
    except smtplib.SMTPServerDisconnected:
        raise
    except smtplib.SMTPException:
        pass
