"""The affected set moves while a change is scheduled (issue #12, DESIGN.md "The notice window,
exactly"): a failed notice is recoverable, late joiners are announced at once with their own
clock, dropped tenants are told and keep their history, started/completed notices go only to
the tenants actually started. Real SMTP server, real dispatcher."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select

from portal.auth.services import issue_token
from portal.changes import lifecycle, reach
from portal.changes.lifecycle import gates
from portal.changes.models import ChangeTenant
from portal.changes.services import input_of, revise
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.notify.models import NOTICE, NOTICE_FAILED, OutboxMessage
from portal.notify.reminders import queue_due_reminders
from portal.tenants.services import add_contact, add_usage
from tests.conftest import T0
from tests.feeds.conftest import feed_url

REFUSED = "550 5.1.1 No such user"


def row_of(change, tenant) -> ChangeTenant:
    db.session.expire_all()
    return db.session.scalar(
        select(ChangeTenant).where(
            ChangeTenant.change_id == change.id, ChangeTenant.tenant_id == tenant.id
        )
    )


def gate_of(change, tenant, now):
    return next(g for g in gates(change, now) if g.tenant_id == tenant.id)


def kinds_to(sink, address):
    return [(m["X-Forewarn-Kind"], m["Subject"]) for m in sink.to(address)]


def fail_tapai(sink):
    for n in (1, 2):
        sink.replies[f"ops{n}@tapai.example"] = [REFUSED]


def test_failed_notice_alerts_then_recovers_when_a_contact_is_added(
    published, dispatch, sink, clock, make_user
):
    w = published
    admin = make_user("boss@tapai.example", tenant=w.tapai, is_tenant_admin=True)
    db.session.commit()
    fail_tapai(sink)
    dispatch()
    assert row_of(w.change, w.tapai).notice_given_at is None
    assert "notice failed" in gate_of(w.change, w.tapai, clock.now()).state.reason
    # Everyone who can fix it is told once, by email (the desk shows the failed state).
    assert queue_due_reminders(clock.now()) == 2
    assert queue_due_reminders(clock.now()) == 0
    db.session.commit()
    dispatch()
    for person in (admin.email, w.manager.email):
        assert [k for k, _ in kinds_to(sink, person)] == [NOTICE_FAILED]
        assert "could not be delivered to Tapai" in sink.to(person)[0]["Subject"]
    # A corrected contact queues the current revision's notice at once; its clock starts there.
    clock.advance(hours=2)
    add_contact(w.tapai, email="fixed@tapai.example", actor=admin, now=clock.now())
    db.session.commit()
    dispatch()
    got = sink.to("fixed@tapai.example")
    assert len(got) == 1 and got[0]["Subject"] == (
        "[Acknowledge by 7 Nov] Degradation: Face Fusion API, Sat 7 Nov 10:00 (UTC+1) - "
        "Upgrade the fusion model"
    )
    assert "could not be delivered; this is that notice again" in got[0].get_body(
        ("plain",)
    ).get_content().replace("\r\n", " ").replace("\n", " ")
    row = row_of(w.change, w.tapai)
    assert row.notice_given_at == T0 + dt.timedelta(hours=2)
    gate = gate_of(w.change, w.tapai, clock.now())
    assert gate.state.opens_at == max(
        w.change.starts_at, row.notice_given_at + dt.timedelta(seconds=row.required_notice_seconds)
    )
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.action == "notice.requeued"))
    assert entry.actor_id == admin.id and entry.tenant_id == w.tapai.id


def test_resend_notice_by_the_account_manager_on_the_web_and_by_the_engineer_over_the_api(
    published, dispatch, sink, clock, app, login
):
    w = published
    fail_tapai(sink)
    dispatch()  # Tapai's notice finally fails; the mailbox is fixed afterwards
    clock.advance(hours=1)
    client = login(w.manager)
    url = f"/changes/{w.change.id}/tenants/{w.tapai.id}/resend-notice"
    assert client.post(url).status_code == 302
    queued = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.tenant_id == w.tapai.id,
            OutboxMessage.kind == NOTICE,
            OutboxMessage.status == "pending",
        )
    ).all()
    assert {r.recipient for r in queued} == {"ops1@tapai.example", "ops2@tapai.example"}
    assert all(r.note == "resent" and r.offset_seconds == 1 for r in queued)
    # A second request while it is on its way is refused, not duplicated.
    client.post(url)
    assert (
        len(
            db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == "pending")).all()
        )
        == 2
    )
    dispatch()
    assert row_of(w.change, w.tapai).notice_given_at == T0 + dt.timedelta(hours=1)
    # Over the API: refused (409) once the notice is given; 404 for a tenant not affected.
    _, secret = issue_token(w.engineer, "pipeline", now=clock.now(), days=None)
    db.session.commit()
    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    answer = api.post(f"/api/v1/changes/{w.change.id}/tenants/tapai/resend-notice", headers=headers)
    assert answer.status_code == 409 and "delivered" in answer.get_json()["error"]["message"]
    missing = api.post(
        f"/api/v1/changes/{w.change.id}/tenants/nobody/resend-notice", headers=headers
    )
    assert missing.status_code == 404


def test_a_customer_may_not_resend(published, dispatch, sink, login, make_user):
    w = published
    fail_tapai(sink)
    dispatch()
    customer = make_user("c@tapai.example", tenant=w.tapai, is_tenant_admin=True)
    db.session.commit()
    answer = login(customer).post(f"/changes/{w.change.id}/tenants/{w.tapai.id}/resend-notice")
    assert answer.status_code == 302  # refused with a message, nothing queued
    assert not db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == "pending")
    ).all()


def test_a_late_joiner_is_announced_at_once_with_its_own_clock(
    published, dispatch, sink, clock, make_tenant
):
    w = published
    dispatch()
    given = {t.slug: row_of(w.change, t).notice_given_at for t in (w.tapai, w.other, w.ptu)}
    clock.advance(hours=60)
    late = make_tenant("late", "Late Co", contacts=1)
    add_usage(late, service=w.service, component=None, actor=w.manager, now=clock.now())
    db.session.commit()
    dispatch()
    ((kind, subject),) = kinds_to(sink, "ops1@late.example")
    assert subject == (
        "[Acknowledge by 7 Nov] Degradation now affects you: Face Fusion API, Sat 7 Nov 09:00 "
        "(UTC) - Upgrade the fusion model"
    )
    row = row_of(w.change, late)
    assert row.active and row.notice_given_at == T0 + dt.timedelta(hours=60)
    # Nobody else's clock restarted.
    assert {t.slug: row_of(w.change, t).notice_given_at for t in (w.tapai, w.other, w.ptu)} == given
    # Its gate opens at max(start, D + N): 72 h after its delivery, past the start.
    gate = gate_of(w.change, late, clock.now())
    assert gate.state.opens_at == row.notice_given_at + dt.timedelta(hours=72) > w.change.starts_at
    # A later postponement is not "affected set widened" and restarts nobody's clock.
    inp = dataclasses.replace(
        input_of(w.change),
        starts_at=w.change.starts_at + dt.timedelta(hours=1),
        ends_at=w.change.ends_at + dt.timedelta(hours=1),
    )
    revision = revise(w.change, inp, actor=w.engineer, now=clock.now())
    db.session.commit()
    assert not revision.material and "widened" not in revision.summary
    dispatch()
    mail = sink.to("ops1@tapai.example")[-1]
    text = mail.get_body(("plain",)).get_content()
    assert mail["Subject"] == (
        "[Acknowledge by 7 Nov] Rescheduled degradation: Face Fusion API, Sat 7 Nov 11:00 "
        "(UTC+1) - Upgrade the fusion model"
    )
    assert "restarts" not in text and "widened" not in text
    assert "Start moved later:" in text


def test_first_contact_after_publication_starts_the_tenants_clock_and_a_partial_start_later(
    world, dispatch, sink, clock, make_tenant, make_usage
):
    from portal.changes.services import publish

    w = world
    silent = make_tenant("silent", "Silent Co", contacts=0)
    make_usage(silent, w.service)
    db.session.commit()
    publish(w.change, actor=w.engineer, now=clock.now())
    db.session.commit()
    dispatch()
    assert "no notice contact" in gate_of(w.change, silent, clock.now()).state.reason
    clock.advance(hours=60)
    add_contact(silent, email="first@silent.example", actor=w.manager, now=clock.now())
    db.session.commit()
    dispatch()
    assert row_of(w.change, silent).notice_given_at == T0 + dt.timedelta(hours=60)
    # At the start, only the others' gates are open: a partial start leaves Silent Co waiting.
    clock.set(w.change.starts_at)
    result = lifecycle.start(w.change, actor=w.engineer, now=clock.now(), only_open=True)
    db.session.commit()
    assert [g.slug for g in result.waiting] == ["silent"]
    dispatch()
    assert not [k for k, s in kinds_to(sink, "first@silent.example") if s.startswith("Started")]
    assert [s for _k, s in kinds_to(sink, "ops1@tapai.example") if s.startswith("Started")]
    # Once its own window has run, it is started and told, and only it.
    clock.set(T0 + dt.timedelta(hours=60 + 72))
    before = len(sink.to("ops1@tapai.example"))
    lifecycle.start(w.change, actor=w.engineer, now=clock.now())
    db.session.commit()
    dispatch()
    assert [s for _k, s in kinds_to(sink, "first@silent.example") if s.startswith("Started")]
    assert len(sink.to("ops1@tapai.example")) == before
    lifecycle.complete(w.change, actor=w.engineer, now=clock.now())
    db.session.commit()
    dispatch()
    assert kinds_to(sink, "first@silent.example")[-1][1].startswith("Completed")


def test_started_and_completed_notices_only_to_started_tenants(published, dispatch, sink, clock):
    w = published
    sink.replies["ops1@other.example"] = [REFUSED]
    sink.replies["ops2@other.example"] = [REFUSED]
    dispatch()
    clock.set(w.change.starts_at)
    lifecycle.start(w.change, actor=w.engineer, now=clock.now(), only_open=True)
    lifecycle.complete(w.change, actor=w.engineer, now=clock.now())
    db.session.commit()
    dispatch()
    other = [s for _k, s in kinds_to(sink, "ops1@other.example")]
    assert not any(s.startswith(("Started", "Completed")) for s in other)
    tapai = [s for _k, s in kinds_to(sink, "ops1@tapai.example")]
    assert any(s.startswith("Started") for s in tapai)
    assert any(s.startswith("Completed") for s in tapai)
    started = sink.to("ops1@tapai.example")[1].get_body(("plain",)).get_content()
    assert "Acknowledge" not in started and "Acknowledgement:" not in started


def test_a_dropped_tenant_is_told_and_keeps_the_change_shown_cancelled(
    published, dispatch, sink, clock, make_service, make_usage, make_user, login, app
):
    from portal.feeds.tokens import issue_feed_token

    w = published
    other_service = make_service(w.team, "face-detect-api", "Face Detect API")
    make_usage(w.tapai, other_service)
    make_usage(w.ptu, other_service)
    db.session.commit()
    dispatch()
    customer = make_user("reader@other.example", tenant=w.other)
    db.session.commit()
    inp = dataclasses.replace(input_of(w.change), targets=((other_service.id, None),))
    revision = revise(w.change, inp, actor=w.engineer, now=clock.now())
    db.session.commit()
    assert not revision.material  # narrowing restarts nobody's clock
    dispatch()
    kept = sink.to("ops1@tapai.example")[-1]
    assert kept["Subject"] == (
        "[Acknowledge by 7 Nov] Updated degradation: Face Detect API, Sat 7 Nov 10:00 (UTC+1) - "
        "Upgrade the fusion model"
    )
    assert "Services: Face Fusion API → Face Detect API" in kept.get_body(("plain",)).get_content()
    last = sink.to("ops1@other.example")[-1]
    assert last["Subject"] == (
        "Degradation no longer affects you: Face Detect API, Sat 7 Nov 09:00 (UTC) - "
        "Upgrade the fusion model"
    )
    text = last.get_body(("plain",)).get_content()
    assert "This change no longer affects Other Co" in text and "Acknowledge" not in text
    assert not row_of(w.change, w.other).active
    # The portal still shows it (no 404), saying it no longer affects them.
    page = login(customer).get(f"/changes/{w.change.id}")
    assert page.status_code == 200 and b"no longer affects you" in page.data
    # Their calendar drops the event: STATUS:CANCELLED.
    _token, secret = issue_feed_token(w.other, "calendar", actor=customer, now=clock.now())
    db.session.commit()
    ics = app.test_client().get(feed_url(secret, "ics"))
    assert ics.status_code == 200
    assert b"STATUS:CANCELLED" in ics.data and b"No longer affects you" in ics.data
    # The certificate keeps what happened: both notices delivered, and that it was dropped.
    cert = login(w.engineer).get(f"/certificates/{w.change.id}/other.json").get_json()
    assert cert["change"]["still_affected"] is False
    told = [(d["revision"], d["status"], d["evidence"]) for d in cert["deliveries"]]
    assert (1, "sent", "ledger") in told and (2, "sent", "ledger") in told


def test_resend_is_offered_while_the_service_would_take_it(
    published, dispatch, sink, clock, login, monkeypatch
):
    """The change page asks ``reach.resend_offered`` (the statuses ``resend_notice`` takes),
    not a status list of its own: narrow the rule and the button goes with the service."""
    w = published
    fail_tapai(sink)
    dispatch()
    clock.advance(hours=1)
    client = login(w.manager)
    page = client.get(f"/changes/{w.change.id}").get_data(as_text=True)
    assert "Resend notice</button>" in page
    monkeypatch.setattr(reach, "OPEN_STATUSES", ())
    page = client.get(f"/changes/{w.change.id}").get_data(as_text=True)
    assert "Resend notice</button>" not in page
    client.post(f"/changes/{w.change.id}/tenants/{w.tapai.id}/resend-notice")
    assert not db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == "pending")
    ).all()
