"""The demo's SMTP sink keeps every message it accepts, including malformed ones."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from sqlalchemy import select

from portal.extensions import db
from portal.mailbox.models import CaughtMail
from portal.mailbox.services import store_caught_mail, view_of
from tests.conftest import T0

GARBAGE = (
    b"Subject: =?unknown-8bit?Q?broken=ZZ?=\r\n"
    b"From: <<<not an address\r\n"
    b"Message-ID: \xff\xfe<weird@@id>\r\n"
    b'Content-Type: multipart/alternative; boundary="nope"\r\n'
    b"\r\n"
    b"--nope\r\n"
    b"Content-Type: text/plain; charset=klingon-1\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"!!!this is not base64!!!\r\n"
    b"--nope\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p onclick=alert(1)>hi</p><script>alert(2)</script>\xc3\x28\r\n"
)


def caught() -> list[CaughtMail]:
    db.session.remove()
    return list(db.session.scalars(select(CaughtMail).order_by(CaughtMail.id)))


def test_sink_stores_a_message_with_its_envelope(app, sink):
    msg = EmailMessage()
    msg["Subject"], msg["From"] = "Scheduled: new rate limits", "notices@forewarn.example"
    msg["To"], msg["Message-ID"] = "ops@tapai.example", "<c1.r1.tapai@forewarn>"
    msg.set_content("Plain part https://portal.test/changes/1")
    msg.add_alternative("<p>HTML <b>part</b></p>", subtype="html")
    with smtplib.SMTP(sink.hostname, sink.port, timeout=10) as smtp:
        refused = smtp.send_message(msg, to_addrs=["Ops@Tapai.example", "cto@tapai.example"])
    assert refused == {}
    with app.app_context():
        [mail] = caught()
        assert mail.subject == "Scheduled: new rate limits"
        assert mail.message_id == "<c1.r1.tapai@forewarn>"
        assert mail.rcpt_to == ["ops@tapai.example", "cto@tapai.example"]
        view = view_of(mail)
        assert "portal.test/changes/1" in view.text and "<b>part</b>" in view.html


def test_sink_accepts_garbage_mime_without_crashing(app, sink):
    with smtplib.SMTP(sink.hostname, sink.port, timeout=10) as smtp:
        smtp.sendmail("x@example.com", ["ops@tapai.example"], GARBAGE)
        # The sink is still up and takes the next message.
        smtp.sendmail("x@example.com", ["ops@tapai.example"], b"Subject: after\r\n\r\nok\r\n")
    with app.app_context():
        first, second = caught()
        assert first.raw.startswith(b"Subject:") and second.subject == "after"
        view = view_of(first)
        assert "script" not in (view.html or "") and "onclick" not in (view.html or "")


def test_store_caught_mail_survives_undecodable_bytes(app):
    with app.app_context():
        mail = store_caught_mail(
            mail_from="",
            rcpt_tos=["  ", "A@B.example", "a@b.example"],
            raw=b"\x00\xff\xfe not a message at all",
            now=T0,
        )
        assert mail.rcpt_to == ["a@b.example"] and mail.subject == ""
        view = view_of(mail)  # shows what it can instead of raising
        assert view.html is None and view.attachments == []


def test_sink_answers_451_when_it_cannot_store(app, sink, monkeypatch):
    import portal.mailbox.sink as sink_module

    def broken(**_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sink_module, "store_caught_mail", broken)
    with smtplib.SMTP(sink.hostname, sink.port, timeout=10) as smtp:
        try:
            smtp.sendmail("x@example.com", ["ops@tapai.example"], b"Subject: s\r\n\r\nbody\r\n")
        except smtplib.SMTPDataError as err:
            assert err.smtp_code == 451
        else:
            raise AssertionError("the sink accepted a message it could not store")
