"""Temporary and permanent failures: retries with backoff, nothing lost, nothing twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from portal.changes.lifecycle import gates
from portal.changes.models import ChangeTenant
from portal.extensions import db
from portal.notify.models import FAILED, PENDING, SENT, OutboxMessage
from portal.tenants.models import NoticeContact
from tests.conftest import T0


def rows():
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def message_ids(sink):
    return [m["Message-ID"] for m in sink.received]


def test_server_down_then_back_delivers_everything_exactly_once(
    published, dispatch, sink, smtp_server, clock
):
    smtp_server.stop()
    first = dispatch()
    assert first.retrying == 4 and first.sent == 0  # Ptu (first party) waits for the others
    assert all(
        r.status == PENDING and r.attempts == (r.tenant_id != published.ptu.id) for r in rows()
    )
    assert "connection refused" in rows()[0].last_error
    assert all(r.due_at > T0 for r in rows() if r.attempts)  # backed off, not hammering
    assert dispatch().claimed == 0  # nothing is due before the backoff ends
    smtp_server.start()
    clock.advance(hours=1)
    second = dispatch()
    assert second.sent == 5
    assert len(sink.received) == 5 and len(set(message_ids(sink))) == 5
    clock.advance(days=1)
    assert dispatch().claimed == 0
    assert len(sink.received) == 5


def test_backoff_grows_exponentially_with_jitter(app):
    from portal.notify.dispatch import retry_delay

    with app.app_context():
        for attempt in (1, 2, 3, 4):
            delays = {retry_delay(attempt) for _ in range(20)}
            full = 60 * 2 ** (attempt - 1)
            assert all(full / 2 <= d <= full for d in delays)
            assert len(delays) > 1  # jitter: workers do not retry in lockstep


def test_451_then_success(published, dispatch, sink, clock):
    sink.replies["ops1@tapai.example"] = ["451 4.3.0 Try again later"]
    first = dispatch()
    assert first.sent == 4 and first.retrying == 1
    row = db.session.scalar(select(OutboxMessage).filter_by(recipient="ops1@tapai.example"))
    assert row.status == PENDING and row.last_error == "451 4.3.0 Try again later"
    clock.advance(hours=1)
    assert dispatch().sent == 1
    assert len(sink.to("ops1@tapai.example")) == 1
    db.session.refresh(row)
    assert row.status == SENT and row.attempts == 2 and row.last_error is None


def test_temporary_failures_retry_for_24_hours_then_fail(published, dispatch, sink, clock):
    sink.replies["ops1@ptu.example"] = ["452 4.2.2 Mailbox full"] * 100
    row = db.session.scalar(select(OutboxMessage).filter_by(recipient="ops1@ptu.example"))
    while clock.now() < T0 + dt.timedelta(hours=30):
        dispatch()
        db.session.refresh(row)
        if row.status == PENDING:
            # capped backoff (DELIVERY_RETRY_MAX_SECONDS, 6 h) and never past the deadline
            assert row.due_at - clock.now() <= dt.timedelta(hours=6)
            assert row.due_at <= T0 + dt.timedelta(hours=24)
        clock.advance(minutes=30)
    assert row.status == FAILED and row.last_error == "452 4.2.2 Mailbox full"
    # bounded by duration, not by a count: the last try falls on the 24 h deadline
    assert T0 + dt.timedelta(hours=24) <= row.failed_at <= T0 + dt.timedelta(hours=24, minutes=30)
    assert row.attempts >= 6


def test_an_attempt_limit_still_applies_when_configured(published, dispatch, sink, clock, app):
    app.config["DELIVERY_MAX_ATTEMPTS"] = 3
    sink.replies["ops1@ptu.example"] = ["452 4.2.2 Mailbox full"] * 10
    for _ in range(5):
        dispatch()
        clock.advance(hours=6)
    row = db.session.scalar(select(OutboxMessage).filter_by(recipient="ops1@ptu.example"))
    assert row.status == FAILED and row.attempts == 3


def test_550_fails_at_once_and_the_gate_stays_shut_and_says_why(published, dispatch, sink, clock):
    sink.replies["ops1@ptu.example"] = ["550 5.1.1 No such user here"]
    result = dispatch()
    assert result.failed == 1 and result.sent == 4
    row = db.session.scalar(select(OutboxMessage).filter_by(recipient="ops1@ptu.example"))
    assert row.status == FAILED and row.attempts == 1 and row.failed_at == T0
    clock.advance(days=10)
    assert dispatch().claimed == 0  # permanent: never retried
    gate = {g.slug: g for g in gates(published.change, clock.now())}
    assert gate["ptu"].notice_given_at is None
    assert not gate["ptu"].state.open
    assert gate["ptu"].state.reason == (
        "notice failed: ops1@ptu.example: 550 5.1.1 No such user here"
    )
    assert gate["tapai"].state.open


def test_gate_stays_shut_while_the_notice_is_undelivered(published, dispatch, smtp_server, clock):
    smtp_server.stop()
    dispatch()
    clock.set(published.change.starts_at + dt.timedelta(hours=1))
    gate = {g.slug: g for g in gates(published.change, clock.now())}
    assert not any(g.state.open for g in gate.values())
    assert gate["tapai"].state.reason.startswith(
        "notice not delivered yet, retrying: connection refused"
    )


def test_tenant_without_notice_contact_keeps_its_gate_shut(world, dispatch):
    from portal.changes.services import publish

    db.session.query(NoticeContact).filter_by(tenant_id=world.other.id).delete()
    publish(world.change, actor=world.engineer, now=T0)
    db.session.commit()
    dispatch()
    gate = {g.slug: g for g in gates(world.change, T0 + dt.timedelta(days=6))}
    assert gate["other"].state.reason == "no notice contact to deliver the notice to"
    assert not gate["other"].state.open and gate["tapai"].state.open


def test_an_address_that_is_not_an_address_fails_its_row_only(world, dispatch, sink, make_contact):
    from portal.changes.services import publish

    make_contact(world.tapai, "not an address")
    # A row stored before single-line input was enforced (the ORM now refuses CR/LF).
    db.session.execute(
        NoticeContact.__table__.insert().values(
            tenant_id=world.tapai.id,
            email="x@y.example\r\nBcc: victim@z.example",
            name="",
            created_at=T0,
        )
    )
    publish(world.change, actor=world.engineer, now=T0)
    db.session.commit()
    result = dispatch()
    assert result.sent == 5 and result.failed == 2
    bad = [r for r in rows() if r.status == FAILED]
    assert all("not a valid email address" in r.last_error for r in bad)
    assert not any("victim" in ",".join(rcpts) for _, rcpts in sink.envelopes)
    ct = db.session.scalar(select(ChangeTenant).filter_by(tenant_id=world.tapai.id))
    assert ct.notice_given_at == T0  # the good contacts still count


def test_a_template_error_fails_its_rows_only_and_they_retry(
    app, published, dispatch, sink, monkeypatch
):
    from jinja2 import ChoiceLoader, DictLoader

    broken = DictLoader({"email/notice.txt": "{{ change.title.no_such_method() }}"})
    monkeypatch.setattr(app.jinja_env, "loader", ChoiceLoader([broken, app.jinja_env.loader]))
    app.jinja_env.cache.clear()
    from portal.notify.outbox import notify_staff

    notify_staff(
        published.change,
        kind="escalation",
        now=T0,
        tenant_id=published.tapai.id,
        recipients=[("am@provider.example", "Alma")],
    )
    db.session.commit()
    result = dispatch()
    # The escalation still went out; Ptu (first party) waits while the others retry.
    assert result.sent == 1 and result.retrying == 4
    assert all(
        r.last_error.startswith("could not render the message")
        for r in rows()
        if r.kind == "notice" and r.attempts
    )
    assert [m["To"] for m in sink.received] == ["am@provider.example"]


def test_a_hanging_server_times_out_without_blocking_the_other_rows(
    app, published, dispatch, sink, clock
):
    app.config["MAIL_TIMEOUT_SECONDS"] = 1.5  # read on every connect
    sink.stall["ops2@tapai.example"] = 3.0  # longer than the timeout
    result = dispatch()
    assert result.sent == 4 and result.retrying == 1
    row = db.session.scalar(select(OutboxMessage).filter_by(recipient="ops2@tapai.example"))
    assert row.status == PENDING and "timed out" in row.last_error
    sink.stall.clear()
    clock.advance(hours=1)
    assert dispatch().sent == 1
