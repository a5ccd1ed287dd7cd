"""Lifecycle actions from the change page: publish (and its refusal), emergency approval,
start (all, or only open gates), complete, cancel, and CSRF on these forms."""

from __future__ import annotations

from sqlalchemy import select

from portal.changes.models import ChangeTenant, EmergencyRequest, NoticeBreach
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from tests.changes.test_screens import HOUR, as_user, make_draft, publish
from tests.conftest import T0


def test_publish_refusal_names_every_blocking_tenant_requirement_and_earliest_start(story, login):
    change = make_draft(story, starts_in=30)
    response = login(story.ana).post(f"/changes/{change.id}/publish")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Publishing refused" in html
    assert "Tapai" in html and "72 h" in html
    assert "Thu 5 Nov 2026 10:00" in html  # p + 72 h + 1 h margin
    assert "Ptu" not in html  # 24 h + margin fits in 30 h
    assert "Request emergency approval" in html
    db.session.refresh(change)
    assert change.status == "draft"


def test_publish_refused_by_a_blackout_window(story, login):
    from portal.changes.blackout_services import add_window

    add_window(
        tenant_id=story.ptu.id,
        starts_at=T0 + 95 * HOUR,
        ends_at=T0 + 100 * HOUR,
        reason="launch week",
        actor=None,
        now=T0,
    )
    db.session.commit()
    change = make_draft(story)
    html = login(story.ana).post(f"/changes/{change.id}/publish").get_data(as_text=True)
    assert "blackout window" in html and "ptu" in html and "launch week" in html


def test_publish_with_enough_notice(story, login):
    change = make_draft(story)
    client = login(story.ana)
    response = client.post(f"/changes/{change.id}/publish")
    assert response.status_code == 302
    assert "Published (revision 1)" in client.get(response.location).get_data(as_text=True)
    db.session.refresh(change)
    assert change.status == "scheduled"


def test_emergency_needs_a_different_approver(story, login):
    change = make_draft(story, starts_in=30)
    client = login(story.ana)
    short = client.post(f"/changes/{change.id}/emergency", data={"justification": "urgent"})
    assert short.status_code == 400 and "at least 20 characters" in short.get_data(as_text=True)
    response = client.post(
        f"/changes/{change.id}/emergency",
        data={"justification": "A security fix that cannot wait for the window."},
    )
    assert response.status_code == 302
    db.session.refresh(change)
    assert change.status == "pending_approval"
    page = client.get(f"/changes/{change.id}").get_data(as_text=True)
    assert "you cannot approve your own change" in page and "Approve as short notice" not in page
    assert client.post(f"/changes/{change.id}/emergency/approve").status_code == 403
    # Cy approves in another team: the change is not even visible to him.
    cy = as_user(login, story.cy)
    assert cy.post(f"/changes/{change.id}/emergency/approve").status_code == 404
    bo = as_user(login, story.bo)
    assert "Approve as short notice" in bo.get(f"/changes/{change.id}").get_data(as_text=True)
    approved = bo.post(f"/changes/{change.id}/emergency/approve", data={"note": "ok"})
    assert approved.status_code == 302
    db.session.refresh(change)
    assert change.status == "scheduled" and change.short_notice
    breaches = (
        db.session.execute(select(NoticeBreach).where(NoticeBreach.change_id == change.id))
        .scalars()
        .all()
    )
    assert {b.tenant_id for b in breaches} == {story.tapai.id, story.ptu.id}


def test_emergency_reject_needs_a_reason(story, login):
    change = make_draft(story, starts_in=30)
    as_user(login, story.ana).post(
        f"/changes/{change.id}/emergency",
        data={"justification": "A security fix that cannot wait for the window."},
    )
    bo = as_user(login, story.bo)
    response = bo.post(f"/changes/{change.id}/emergency/reject", data={"reason": ""})
    assert response.status_code == 302
    db.session.refresh(change)
    assert change.status == "pending_approval"
    bo.post(f"/changes/{change.id}/emergency/reject", data={"reason": "Wait for Monday."})
    db.session.refresh(change)
    assert change.status == "draft"
    req = db.session.execute(select(EmergencyRequest)).scalar_one()
    assert req.decision == "rejected" and req.decision_reason == "Wait for Monday."


def deliver(change, tenant, at):
    db.session.execute(
        ChangeTenant.__table__.update()
        .where(ChangeTenant.change_id == change.id, ChangeTenant.tenant_id == tenant.id)
        .values(notice_given_at=at)
    )
    db.session.commit()


def test_start_all_is_refused_while_a_gate_is_shut_and_lists_it(story, login, clock):
    change = make_draft(story)
    publish(change, story)
    deliver(change, story.ptu, T0)
    clock.set(T0 + 97 * HOUR)
    client = login(story.ana)
    response = client.post(f"/changes/{change.id}/start")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Start refused" in html and "Tapai" in html
    assert "1 tenant gate is still shut" in html  # a sentence above the table
    assert "Start only tenants whose gate is open" in html
    response = client.post(f"/changes/{change.id}/start", data={"only_open": "y"})
    assert response.status_code == 302  # back to the change page, with a message
    html = client.get(response.location).get_data(as_text=True)
    assert "Started for 1 tenant; 1 not started, gate still shut: Tapai" in html
    db.session.refresh(change)
    assert change.status == "in_progress"
    started = dict(
        db.session.execute(
            select(ChangeTenant.tenant_id, ChangeTenant.started_at).where(
                ChangeTenant.change_id == change.id
            )
        ).all()
    )
    assert started[story.ptu.id] is not None and started[story.tapai.id] is None


def test_complete_and_cancel(story, login, clock):
    change = make_draft(story)
    publish(change, story)
    deliver(change, story.ptu, T0)
    deliver(change, story.tapai, T0)
    clock.set(T0 + 97 * HOUR)
    client = login(story.ana)
    assert client.post(f"/changes/{change.id}/start").status_code == 302
    assert client.post(f"/changes/{change.id}/complete").status_code == 302
    db.session.refresh(change)
    assert change.status == "completed"
    other = make_draft(story, starts_in=200)
    publish(other, story)
    assert client.get(f"/changes/{other.id}/cancel").status_code == 200
    assert client.post(f"/changes/{other.id}/cancel", data={"reason": ""}).status_code == 400
    assert (
        client.post(
            f"/changes/{other.id}/cancel", data={"reason": "Supplier postponed."}
        ).status_code
        == 302
    )
    db.session.refresh(other)
    assert other.status == "cancelled"
    assert db.session.execute(
        select(LedgerEntry).where(LedgerEntry.action == "change.cancelled")
    ).scalar_one()


def test_customers_and_account_managers_cannot_act(story, login):
    change = make_draft(story)
    publish(change, story)
    for user in (story.tapai_user, story.manager):
        client = as_user(login, user)
        assert client.post(f"/changes/{change.id}/start").status_code == 403
        assert client.post(f"/changes/{change.id}/cancel", data={"reason": "x"}).status_code == 403
        assert client.post(f"/changes/{change.id}/emergency/approve").status_code in (403, 404)


def test_post_without_csrf_token_is_refused(story, app):
    app.config["WTF_CSRF_ENABLED"] = True
    change = make_draft(story)
    client = app.test_client(user=story.ana)
    response = client.post(f"/changes/{change.id}/publish")
    assert response.status_code == 400
    db.session.refresh(change)
    assert change.status == "draft"
    response = client.post("/changes/new", data={"title": "x"})
    assert response.status_code == 400
