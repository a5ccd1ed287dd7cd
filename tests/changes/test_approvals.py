"""Approvers are told, and decide with the blast radius in view (issue #16 item 1).

An engineer requests emergency approval for a change starting inside Tapai's 72 h contract:
every approver of the team who may decide gets an email through a real SMTP server, sees the
request on the home page and as a count in the menu, and the change page shows the notice
check (tenants, first-party involvement, who is owed how much by which rule, time to start).
After the start has passed, Approve is disabled with a way forward, and the service refuses it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.changes import approvals, emergency
from portal.changes.models import EmergencyRequest
from portal.errors import Conflict
from portal.extensions import db
from portal.notify.dispatch import dispatch_due
from tests.changes.conftest import api_user
from tests.changes.test_screens import HOUR, as_user, make_draft
from tests.conftest import T0
from tests.notify.conftest import SmtpServer

JUSTIFICATION = "A security fix that cannot wait for the notice window."


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, smtp_server):
    return {
        **app_config,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_server.port,
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_TIMEOUT_SECONDS": 10,  # generous: a loaded CI machine is slow to answer
    }


@pytest.fixture
def requested(story, login):
    """Ana asks for emergency approval of a change starting in 30 h (Tapai is owed 72 h)."""
    story.dee = api_user("dee@provider.example", teams=[story.team], approver=True)
    db.session.commit()
    change = make_draft(story, starts_in=30)
    response = as_user(login, story.ana).post(
        f"/changes/{change.id}/emergency", data={"justification": JUSTIFICATION}
    )
    assert response.status_code == 302
    return change


def test_every_approver_who_may_decide_is_emailed_the_blast_radius(
    story, requested, smtp_server, clock
):
    dispatch_due(now=clock.now)
    got = {m["To"]: m for m in smtp_server.sink.received}
    # Bo and Dee approve for Face Fusion; Ana requested it; Cy approves for another team.
    assert set(got) == {"bo@provider.example", "dee@provider.example"}
    mail = got["bo@provider.example"]
    assert mail["Subject"] == f"Emergency approval requested: {requested.title}"
    text = mail.get_body(("plain",)).get_content()
    assert JUSTIFICATION in text
    assert "Affected tenants: 2" in text
    assert "First-party tenants affected: Ptu" in text
    assert "Tapai: owed 72 h by contract" in text and "would get 30 h (short by 42 h)" in text
    assert f"/changes/{requested.id}#emergency" in text


def test_approvers_see_what_waits_for_them_on_the_home_page_and_in_the_menu(
    story, requested, login
):
    bo = as_user(login, story.bo)
    home = bo.get("/").get_data(as_text=True)
    assert "Waiting for your approval" in home and requested.title in home
    assert 'aria-label="1 waiting for your decision"' in home
    # Neither the requester nor an approver of another team is asked.
    for user in (story.ana, story.cy):
        page = as_user(login, user).get("/").get_data(as_text=True)
        assert "Waiting for your approval" not in page and "waiting for your decision" not in page


def test_the_approval_page_shows_the_notice_check_beside_the_decision(story, requested, login):
    page = as_user(login, story.bo).get(f"/changes/{requested.id}").get_data(as_text=True)
    assert "Affects <strong>2</strong> tenants, including first-party: Ptu" in page
    assert "1 would get less notice than they are owed" in page
    assert "contract" in page and "42 h" in page  # Tapai: 72 h owed, 30 h given
    assert "in 30 h" in page  # the countdown to the start
    assert "Reason for rejecting" in page
    assert "Approving publishes it now as short notice: 2 tenants told" in page
    assert "Approve as short notice</button>" in page and " disabled " not in page
    # The browser asks before approving (static/forewarn.js), saying what it sends.
    assert 'data-confirm="Approve as short notice? It is published now: 2 tenants told (' in page


def test_after_the_start_approve_is_disabled_and_refused_with_a_way_forward(
    story, requested, login, clock
):
    clock.advance(31 * HOUR)
    bo = as_user(login, story.bo)
    page = bo.get(f"/changes/{requested.id}").get_data(as_text=True)
    assert "expired: the start has passed" in page
    assert "disabled" in page and "The requester must reschedule" in page
    assert 'data-confirm="Approve' not in page  # nothing to confirm: Approve is disabled
    response = bo.post(f"/changes/{requested.id}/emergency/approve", data={"note": "ok"})
    assert response.status_code == 302
    assert "can no longer be approved" in bo.get(response.location).get_data(as_text=True)
    db.session.refresh(requested)
    assert requested.status == "pending_approval"
    with pytest.raises(Conflict, match="requester must reschedule"):
        emergency.approve(requested, approver=story.bo, now=clock.now())
    # Rejecting still works and sends it back to draft for rescheduling.
    bo.post(f"/changes/{requested.id}/emergency/reject", data={"reason": "Too late now."})
    db.session.refresh(requested)
    assert requested.status == "draft"


def test_brief_names_each_requirement_source(story, requested):
    brief = approvals.brief(requested, T0)
    assert brief.affected == 2 and brief.first_party == ("Ptu",)
    (tapai,) = brief.shortfalls
    assert (tapai.slug, tapai.required_seconds, tapai.given_seconds) == (
        "tapai",
        72 * 3600,
        30 * 3600,
    )
    assert tapai.source.startswith("contract")
    req = db.session.execute(select(EmergencyRequest)).scalar_one()
    assert approvals.awaiting_approval(story.bo) == [requested]
    assert approvals.awaiting_approval(story.ana) == [] and req.requested_by_id == story.ana.id


def test_a_request_whose_start_passes_expires_and_the_change_is_a_draft_again(
    story, requested, clock, login
):
    from portal.ledger.models import LedgerEntry

    assert emergency.expire_stale_requests(clock.now()) == 0
    clock.advance(30 * HOUR)  # the start
    assert emergency.expire_stale_requests(clock.now()) == 1
    db.session.commit()
    db.session.refresh(requested)
    req = db.session.execute(select(EmergencyRequest)).scalar_one()
    assert requested.status == "draft" and req.decision == "expired"
    assert db.session.scalars(
        select(LedgerEntry.action).where(LedgerEntry.action == "change.emergency_expired")
    ).one()
    page = as_user(login, story.ana).get(f"/changes/{requested.id}").get_data(as_text=True)
    assert "expired" in page and "reschedule and ask again" in page
    assert approvals.awaiting_approval(story.bo) == []
