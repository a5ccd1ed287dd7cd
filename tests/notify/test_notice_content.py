"""What each notice says (issue #12): its own revision's content, what changed, "notice period
restarts" only where the tenant's clock restarts, truthful reminders, no acknowledge link where
it cannot work or make sense, and the cancellation reason everywhere customers read."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select

from portal.changes import lifecycle
from portal.changes.services import input_of, revise
from portal.extensions import db
from portal.notify.models import REMINDER, EmailPreference, OutboxMessage
from portal.notify.reminders import queue_due_reminders


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def edit(change, **fields):
    return dataclasses.replace(input_of(change), **fields)


def test_each_notice_renders_its_own_revision_even_when_edits_follow_quickly(
    published, dispatch, sink, clock
):
    w = published
    dispatch()
    start = w.change.starts_at
    # Revision 2: title and start earlier (material); 41 ms later revision 3: title only.
    revise(
        w.change,
        edit(w.change, title="Third title", starts_at=start - dt.timedelta(hours=1)),
        actor=w.engineer,
        now=clock.now(),
    )
    clock.advance(seconds=0.041)
    revise(w.change, edit(w.change, title="Fourth title"), actor=w.engineer, now=clock.now())
    db.session.commit()
    dispatch()
    rev2, rev3 = sink.to("ops1@tapai.example")[1:]
    assert "rev-2." in rev2["Message-ID"] and "rev-3." in rev3["Message-ID"]
    assert rev2["Subject"] == "Updated (notice period restarts): Third title"
    assert rev3["Subject"] == "Updated: Fourth title"
    body2 = text_of(rev2)
    assert "Fourth" not in body2
    # Old → new start in the tenant's zone (Europe/Paris) and in UTC.
    assert "Start moved earlier: Sat 7 Nov 2026 10:00 UTC+1 (09:00 UTC)" in body2
    assert "→ Sat 7 Nov 2026 09:00 UTC+1 (08:00 UTC)" in body2
    assert "Title: Upgrade the fusion model → Third title" in body2
    assert "Title: Third title → Fourth title" in text_of(rev3)


def test_notice_period_restarts_only_for_tenants_whose_clock_restarts(
    published, dispatch, sink, clock, make_service, make_tenant, make_usage
):
    w = published
    dispatch()
    extra = make_service(w.team, "face-detect-api", "Face Detect API")
    newcomer = make_tenant("newco", "New Co", contacts=1)
    make_usage(newcomer, extra)
    db.session.commit()
    targets = ((w.service.id, None), (extra.id, None))
    revision = revise(w.change, edit(w.change, targets=targets), actor=w.engineer, now=clock.now())
    db.session.commit()
    assert revision.material  # widened: New Co's clock starts, nobody else's restarts
    dispatch()
    tapai = sink.to("ops1@tapai.example")[-1]
    assert tapai["Subject"] == "Updated: Upgrade the fusion model"
    assert "restarts" not in text_of(tapai) and "widened" not in text_of(tapai)
    newco = sink.to("ops1@newco.example")[-1]
    assert newco["Subject"] == "Updated (notice period restarts): Upgrade the fusion model"


def test_reminders_state_the_real_time_left_and_only_the_nearest_goes(
    published, dispatch, sink, clock
):
    w = published
    dispatch()
    # The worker was down: at 2 h 21 min before the start both offsets are due at once.
    clock.set(w.change.starts_at - dt.timedelta(hours=2, minutes=21))
    queue_due_reminders(clock.now())
    db.session.commit()
    dispatch()
    reminders = [m for m in sink.received if m["X-Forewarn-Kind"] == REMINDER]
    assert {m["Subject"] for m in reminders} == {
        "Reminder: Upgrade the fusion model starts in 2 h 21 min"
    }
    assert len(reminders) == 5  # one per contact, not two
    queued = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == REMINDER))
    assert {r.offset_seconds for r in queued} == {24 * 3600}


def test_no_reminder_before_the_tenants_notice_was_given(published, dispatch, sink, clock):
    w = published
    sink.replies["ops1@tapai.example"] = ["451 4.3.0 later"] * 20
    sink.replies["ops2@tapai.example"] = ["451 4.3.0 later"] * 20
    dispatch()
    clock.set(w.change.starts_at - dt.timedelta(hours=71))
    queue_due_reminders(clock.now())
    reminded = {
        r.tenant_id
        for r in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == REMINDER))
    }
    assert w.tapai.id not in reminded and w.other.id in reminded


def test_a_postponement_re_arms_the_reminders(published, dispatch, sink, clock):
    w = published
    dispatch()
    clock.set(w.change.starts_at - dt.timedelta(hours=71))
    queue_due_reminders(clock.now())
    db.session.commit()
    later = w.change.starts_at + dt.timedelta(days=3)
    revise(
        w.change,
        edit(w.change, starts_at=later, ends_at=later + dt.timedelta(hours=2)),
        actor=w.engineer,
        now=clock.now(),
    )
    db.session.commit()
    dispatch()
    clock.set(later - dt.timedelta(hours=71))
    assert queue_due_reminders(clock.now()) > 0  # the 72 h reminder again, for the new start
    db.session.commit()
    dispatch()
    subjects = [m["Subject"] for m in sink.to("ops1@other.example")]
    assert subjects.count("Reminder: Upgrade the fusion model starts in 71 h") == 2


def test_optional_copies_carry_no_acknowledge_link(world, dispatch, sink, clock, make_user):
    from portal.changes.services import publish

    reader = make_user("reader@tapai.example", tenant=world.tapai)
    db.session.add(
        EmailPreference(user_id=reader.id, tenant_id=world.tapai.id, min_impact="maintenance")
    )
    db.session.commit()
    publish(world.change, actor=world.engineer, now=clock.now())
    db.session.commit()
    dispatch()
    (copy,) = sink.to("reader@tapai.example")
    assert "Acknowledge (required):" not in text_of(copy) and "/ack/" not in text_of(copy)
    assert "Acknowledge (required):" in text_of(sink.to("ops1@tapai.example")[0])


def test_cancellation_reason_reaches_email_feed_and_page_without_asking_for_an_ack(
    published, dispatch, sink, clock, make_user, login, app
):
    from portal.feeds.tokens import issue_feed_token
    from tests.feeds.conftest import feed_url

    w = published
    dispatch()
    lifecycle.cancel(
        w.change, actor=w.engineer, now=clock.now(), reason="The supplier withdrew the model."
    )
    db.session.commit()
    dispatch()
    mail = sink.to("ops1@tapai.example")[-1]
    assert mail["Subject"] == "Cancelled: Upgrade the fusion model"
    body = text_of(mail)
    assert "Reason for the cancellation: The supplier withdrew the model." in body
    assert "Acknowledge" not in body and "Acknowledgement:" not in body
    customer = make_user("reader@tapai.example", tenant=w.tapai)
    db.session.commit()
    page = login(customer).get(f"/changes/{w.change.id}")
    assert b"The supplier withdrew the model." in page.data
    _tok, secret = issue_feed_token(w.tapai, "reader", actor=customer, now=clock.now())
    db.session.commit()
    for fmt in ("rss", "atom", "ics"):
        feed = app.test_client().get(feed_url(secret, fmt)).data
        assert b"The supplier withdrew the model." in feed, fmt
