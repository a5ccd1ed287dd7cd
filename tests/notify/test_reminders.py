"""Reminders at 72 h and 24 h before the start to tenants that have not acknowledged, each sent
once; escalation to account managers at the last one for changes that require an ack."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from portal.acks.models import CHANNEL_PORTAL
from portal.acks.services import acknowledge
from portal.extensions import db
from portal.notify.models import ESCALATION, REMINDER, SKIPPED, OutboxMessage
from portal.notify.reminders import queue_due_reminders


def reminder_rows(kind=REMINDER, offset=None):
    q = select(OutboxMessage).filter_by(kind=kind)
    if offset is not None:
        q = q.filter_by(offset_seconds=offset)
    return list(db.session.scalars(q.order_by(OutboxMessage.id)))


def test_reminders_go_to_silent_tenants_once_and_escalate_at_the_last(
    published, dispatch, sink, clock, make_user
):
    change = published.change
    dispatch()  # the notices themselves
    clock.set(change.starts_at - dt.timedelta(hours=71))
    assert queue_due_reminders(clock.now()) == 5
    assert queue_due_reminders(clock.now()) == 0  # once, however often the worker looks
    db.session.commit()
    dispatch()
    reminders = [m for m in sink.received if m["X-Forewarn-Kind"] == "reminder"]
    assert len(reminders) == 5
    assert (
        reminders[0]["Subject"] == "Reminder: Upgrade the fusion model starts in 71 h"
    )  # real time left
    assert reminders[0]["List-Unsubscribe"].startswith("<http://portal.test/unsubscribe/")
    assert reminders[0]["In-Reply-To"]  # threads under the first notice

    customer = make_user("boss@tapai.example", tenant=published.tapai)
    acknowledge(change, published.tapai.id, now=clock.now(), channel=CHANNEL_PORTAL, user=customer)
    db.session.commit()
    clock.set(change.starts_at - dt.timedelta(hours=23))
    queue_due_reminders(clock.now())
    db.session.commit()
    last = reminder_rows(offset=24 * 3600)
    assert sorted(r.recipient for r in last) == [
        "ops1@other.example",
        "ops1@ptu.example",
        "ops2@other.example",
    ]
    escalations = reminder_rows(ESCALATION)
    # Alma manages Tapai (acknowledged) and Ptu (silent); Other Co has no account manager.
    assert [(r.recipient, r.tenant_id) for r in escalations] == [
        ("am@provider.example", published.ptu.id)
    ]
    dispatch()
    [alert] = sink.to("am@provider.example")
    assert alert["Subject"] == "Not acknowledged by Ptu: Upgrade the fusion model"
    # Enough to chase without opening the portal: the contacts, when each was told, a link
    # to the desk filtered to the tenant (issue #16 item 3).
    text = alert.get_body(("plain",)).get_content()
    assert "ops1@ptu.example (Ops 1): notice delivered Mon 2 Nov 2026 09:00 UTC" in text
    assert f"/desk/changes/{change.id}?filter=not_acknowledged&q=ptu" in text
    html = alert.get_body(("html",)).get_content()
    assert 'href="mailto:ops1@ptu.example"' in html
    clock.advance(hours=1)
    assert queue_due_reminders(clock.now()) == 0


def test_a_reminder_is_skipped_if_the_tenant_acknowledges_before_it_is_sent(
    published, dispatch, sink, clock, make_user
):
    change = published.change
    dispatch()
    clock.set(change.starts_at - dt.timedelta(hours=71))
    queue_due_reminders(clock.now())
    acknowledge(
        change,
        published.tapai.id,
        now=clock.now(),
        channel=CHANNEL_PORTAL,
        user=make_user("boss@tapai.example", tenant=published.tapai),
    )
    db.session.commit()
    result = dispatch()
    assert result.skipped == 2 and result.sent == 3
    skipped = [r for r in reminder_rows() if r.status == SKIPPED]
    assert {r.tenant_id for r in skipped} == {published.tapai.id}
    assert skipped[0].last_error == "not sent: the tenant has acknowledged"


def test_no_reminder_for_an_offset_already_past_at_publication(world, dispatch, clock):
    from portal.changes.services import publish

    world.change.starts_at = clock.now() + dt.timedelta(hours=70)
    world.change.ends_at = world.change.starts_at + dt.timedelta(hours=1)
    world.change.impact = "maintenance"
    publish(world.change, actor=world.engineer, now=clock.now())
    db.session.commit()
    dispatch()  # no reminder goes before the notice was given
    clock.advance(hours=1)
    assert queue_due_reminders(clock.now()) == 0  # the 72 h one: the notice itself was later
    clock.set(world.change.starts_at - dt.timedelta(hours=23))
    assert queue_due_reminders(clock.now()) == 5 + 2  # and escalations for Tapai and Ptu


def test_dispatch_command_sends_and_reports(app, published, sink):
    result = app.test_cli_runner().invoke(args=["dispatch"])
    assert result.exit_code == 0, result.output
    assert "5 sent, 0 to retry, 0 failed, 0 skipped" in result.output
    assert len(sink.received) == 5


def test_dispatch_command_refuses_when_mail_is_suppressed(app, published):
    app.extensions["mail"].suppress = True
    result = app.test_cli_runner().invoke(args=["dispatch"])
    assert result.exit_code == 1 and "MAIL_SUPPRESS_SEND" in result.output
