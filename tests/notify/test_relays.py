"""Real relays that are strict, old-fashioned or broken: a relay enforcing CRLF (RFC 5321
§2.3.8), one with and one without SMTPUTF8 (RFC 6531), and relays answering garbage,
dropping the connection after DATA, or refusing some recipients. No row is lost and each
outcome is told apart: accepted, retried, failed."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.changes.models import ChangeTenant
from portal.changes.services import publish
from portal.extensions import db
from portal.notify.models import FAILED, PENDING, SENT, OutboxMessage
from tests.conftest import T0
from tests.notify.conftest import Sink

TITLE = "P2 Wartung: Größenänderung der Speicher-Controller in Frankfurt und Zürich"
BARE_LF = re.compile(rb"(?<!\r)\n")
ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def rows() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def row_of(address: str) -> OutboxMessage:
    return db.session.scalar(select(OutboxMessage).filter_by(recipient=address))


def publish_world(world, title: str | None = None) -> None:
    if title:
        world.change.title = title
    publish(world.change, actor=world.engineer, now=T0)
    db.session.commit()


class StrictSink(Sink):
    """Refuses (550) any message with a bare LF or CR, a line over 998 octets, or an encoded
    word over 75 characters, as an RFC-enforcing relay does."""

    def __init__(self):
        super().__init__()
        self.refused: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        raw = envelope.original_content
        body = raw[:-2] if raw.endswith(b"\r\n") else raw
        problems = []
        if BARE_LF.search(raw) or re.search(rb"\r(?!\n)", raw):
            problems.append("bare LF or CR")
        if any(len(line) > 998 for line in body.split(b"\r\n")):
            problems.append("line over 998 octets")
        if any(len(w) > 75 for w in ENCODED_WORD.findall(raw)):
            problems.append("encoded word over 75 characters")
        if problems:
            self.refused.append(", ".join(problems))
            return "550 5.6.0 message refused: " + ", ".join(problems)
        return await super().handle_DATA(server, session, envelope)


def use(smtp_server, sink: Sink, **options) -> Sink:
    smtp_server.stop()
    smtp_server.sink = sink
    smtp_server.start(**options)
    return sink


def test_a_long_non_ascii_title_passes_a_relay_that_enforces_crlf(world, dispatch, smtp_server):
    strict = use(smtp_server, StrictSink())
    publish_world(world, TITLE)
    result = dispatch()
    assert strict.refused == [] and result.sent == 5 and result.failed == 0
    assert all(m["Subject"].endswith(TITLE) for m in strict.received)


def test_an_internationalised_address_goes_out_with_smtputf8_when_offered(
    world, dispatch, sink, make_contact
):
    make_contact(world.tapai, "用户@例子.广告")
    publish_world(world)
    result = dispatch()
    assert result.sent == 6 and result.failed == 0
    [(_sender, rcpts)] = [e for e in sink.envelopes if not e[1][0].isascii()]
    assert rcpts == ["用户@xn--fsqu00a.xn--4rr70v"]  # mailbox in UTF-8, domain as punycode
    [msg] = [m for m in sink.received if not m["To"].isascii()]
    assert msg["To"] == "用户@xn--fsqu00a.xn--4rr70v"


def test_an_internationalised_address_fails_at_once_when_smtputf8_is_not_offered(
    world, dispatch, smtp_server, make_contact
):
    sink = use(smtp_server, Sink(), enable_SMTPUTF8=False)
    make_contact(world.tapai, "用户@例子.广告")
    publish_world(world)
    result = dispatch()
    assert result.sent == 5 and result.failed == 1 and result.retrying == 0
    row = row_of("用户@例子.广告")
    assert row.status == FAILED and row.attempts == 1
    assert "does not offer SMTPUTF8" in row.last_error
    assert "Error" not in row.last_error  # a reason, not a Python exception
    assert len(sink.received) == 5


def test_an_idn_domain_goes_out_as_punycode_even_without_smtputf8(
    world, dispatch, smtp_server, make_contact
):
    sink = use(smtp_server, Sink(), enable_SMTPUTF8=False)
    make_contact(world.tapai, "ops@bücher.example")
    publish_world(world)
    assert dispatch().sent == 6
    assert ["ops@xn--bcher-kva.example"] in [rcpts for _s, rcpts in sink.envelopes]
    assert row_of("ops@bücher.example").status == SENT


class GarbageSink(Sink):
    """Answers DATA with something that is no SMTP reply while ``garbage`` is set."""

    garbage = True

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.garbage:
            return "hello, this is not SMTP"
        return await super().handle_DATA(server, session, envelope)


def test_a_relay_answering_garbage_loses_nothing_and_is_retried(
    published, dispatch, smtp_server, clock
):
    sink = use(smtp_server, GarbageSink())
    first = dispatch()
    assert first.sent == 0 and first.failed == 0 and first.retrying == 4
    assert all(
        r.status == PENDING and "outside the protocol" in r.last_error for r in rows() if r.attempts
    )
    sink.garbage = False
    clock.advance(hours=1)
    dispatch()
    assert all(r.status == SENT for r in rows()) and len(rows()) == 5


class DropAfterDataSink(Sink):
    """Takes the message, then drops the connection instead of answering, ``drops`` times."""

    drops = 1

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.drops:
            self.drops -= 1
            with self.lock:
                self.dropped = envelope.rcpt_tos[0]
            server.transport.abort()
            return "250 never heard"
        return await super().handle_DATA(server, session, envelope)


def test_a_connection_dropped_after_data_is_retried_with_the_same_message_id(
    published, dispatch, smtp_server, clock
):
    sink = use(smtp_server, DropAfterDataSink())
    first = dispatch()
    assert first.sent == 4 and first.retrying == 1 and first.failed == 0
    dropped = row_of(sink.dropped)
    assert dropped.status == PENDING and "connection lost" in dropped.last_error
    clock.advance(hours=1)
    dispatch()
    assert all(r.status == SENT for r in rows()) and len(sink.received) == 5
    assert dropped.message_id == sink.to(sink.dropped)[0]["Message-ID"]


class PickyRecipientsSink(Sink):
    """Accepts some recipients and refuses others at RCPT, permanently or for now."""

    answers = {
        "ops1@tapai.example": "550 5.1.1 No such user",
        "ops1@other.example": "451 4.7.1 Greylisted",
    }

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        answer = self.answers.get(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_relay_refusing_some_recipients_tells_each_row_its_own_outcome(
    published, dispatch, smtp_server, clock
):
    use(smtp_server, PickyRecipientsSink())
    result = dispatch()
    assert result.sent == 3 and result.failed == 1 and result.retrying == 1
    assert row_of("ops1@tapai.example").status == FAILED
    assert row_of("ops1@tapai.example").last_error == "550 5.1.1 No such user"
    assert row_of("ops1@other.example").status == PENDING
    assert row_of("ops2@tapai.example").status == SENT
    # Both third parties' notices were given through their second contacts: Ptu's turn.
    assert row_of("ops1@ptu.example").status == SENT
    ct = db.session.scalar(select(ChangeTenant).filter_by(tenant_id=published.tapai.id))
    assert ct.notice_given_at == T0
