"""The changes JSON API: create/read/update, publish, start, complete, cancel and the
emergency path, with 409 bodies naming blocking tenants and scoping by token owner."""

import datetime as dt

import pytest

from portal.changes.models import Change, NoticeBreach
from portal.extensions import db
from tests.changes.conftest import change_body, iso
from tests.changes.helpers import HOUR, actions, deliver, rows
from tests.conftest import T0


@pytest.fixture
def ana(client, story, bearer):
    headers = bearer(story.ana)

    def call(method, url, json=None, **kw):
        return client.open(url, method=method, json=json, headers=headers, **kw)

    return call


def _create(ana, **overrides):
    response = ana("POST", "/api/v1/changes", change_body(**overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["change"]


def test_create_read_and_list_a_draft(ana):
    change = _create(ana)
    assert change["status"] == "draft" and change["services"] == ["face-fusion-api"]
    assert change["starts_at"] == iso(T0 + 96 * HOUR) and change["author"] == "ana@provider.example"
    read = ana("GET", f"/api/v1/changes/{change['id']}").get_json()
    assert read["change"]["title"] == "Upgrade the fusion model" and read["revisions"] == []
    listed = ana("GET", "/api/v1/changes?status=draft").get_json()
    assert [c["id"] for c in listed["changes"]] == [change["id"]]


def test_preview_before_creating_shows_the_earliest_allowed_start(ana):
    data = ana(
        "POST", "/api/v1/changes/preview", change_body(starts_at=iso(T0 + 30 * HOUR))
    ).get_json()
    assert data["earliest_allowed_start"] == iso(T0 + 73 * HOUR)
    assert data["affected_tenants"] == 2 and data["strictest"]["tenant"] == "tapai"
    assert data["publishable"] is False
    assert [b["tenant"] for b in data["blocking_tenants"]] == ["tapai"]


def test_publish_refused_is_409_naming_tapai_and_the_earliest_start(ana):
    change = _create(ana, starts_at=iso(T0 + 30 * HOUR), ends_at=iso(T0 + 31 * HOUR))
    response = ana("POST", f"/api/v1/changes/{change['id']}/publish")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["earliest_allowed_start"] == iso(T0 + 73 * HOUR)
    assert error["blocking_tenants"] == [
        {
            "tenant": "tapai",
            "name": "Tapai",
            "required_notice_seconds": 72 * 3600,
            "earliest_start": iso(T0 + 73 * HOUR),
            "source": "contract (test contract)",  # which rule owes the notice
        }
    ]
    assert db.session.get(Change, change["id"]).status == "draft"


def test_the_story_publish_gate_start_complete(ana, story, clock):
    change = _create(ana)
    published = ana("POST", f"/api/v1/changes/{change['id']}/publish")
    assert published.status_code == 200 and published.get_json()["change"]["status"] == "scheduled"
    gate = ana("GET", f"/api/v1/changes/{change['id']}/gate").get_json()
    assert gate["open"] is False and gate["opens_at"] is None
    # Delivery may say more precisely why (queued, bounced …); it is never open.
    assert all(
        "not" in t["reason"] and "deliver" in t["reason"] and t["opens_at"] is None
        for t in gate["tenants"]
    )
    refused = ana("POST", f"/api/v1/changes/{change['id']}/start")
    assert refused.status_code == 409
    assert {t["tenant"] for t in refused.get_json()["error"]["blocking_tenants"]} == {
        "tapai",
        "ptu",
    }
    deliver(db.session.get(Change, change["id"]), T0 + dt.timedelta(minutes=2))
    clock.set(T0 + 96 * HOUR)
    gate = ana("GET", f"/api/v1/changes/{change['id']}/gate").get_json()
    assert gate["open"] is True and gate["opens_at"] == iso(T0 + 96 * HOUR)
    started = ana("POST", f"/api/v1/changes/{change['id']}/start")
    assert started.status_code == 200
    assert sorted(started.get_json()["started"]) == ["ptu", "tapai"]
    assert started.get_json()["change"]["status"] == "in_progress"
    assert ana("POST", f"/api/v1/changes/{change['id']}/start").status_code == 409
    done = ana("POST", f"/api/v1/changes/{change['id']}/complete")
    assert done.get_json()["change"]["status"] == "completed"
    edit = ana("PATCH", f"/api/v1/changes/{change['id']}", {"title": "Too late"})
    assert edit.status_code == 409 and "completed" in edit.get_json()["error"]["message"]
    log = actions(change["id"])
    for action in (
        "change.created",
        "change.published",
        "change.started",
        "change.tenant_started",
        "change.completed",
    ):
        assert action in log
    history = ana("GET", f"/api/v1/changes/{change['id']}").get_json()["revisions"]
    assert [r["kind"] for r in history] == ["publish", "start", "complete"]


def test_progressive_start_releases_only_open_gates(ana, story, clock):
    change = _create(ana)
    ana("POST", f"/api/v1/changes/{change['id']}/publish")
    row = rows(db.session.get(Change, change["id"]))[story.ptu.id]
    row.notice_given_at = T0 + dt.timedelta(minutes=1)
    db.session.commit()
    clock.set(T0 + 96 * HOUR)
    response = ana("POST", f"/api/v1/changes/{change['id']}/start", {"only_open": True})
    body = response.get_json()
    assert response.status_code == 200 and body["started"] == ["ptu"]
    assert [w["tenant"] for w in body["waiting"]] == ["tapai"]
    bad = ana("POST", f"/api/v1/changes/{change['id']}/start", {"only_open": "yes"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "only_open"


def test_update_of_a_scheduled_change_reports_the_revision(ana):
    change = _create(ana)
    ana("POST", f"/api/v1/changes/{change['id']}/publish")
    preview = ana(
        "POST",
        f"/api/v1/changes/{change['id']}/preview",
        {"starts_at": iso(T0 + 120 * HOUR), "ends_at": iso(T0 + 122 * HOUR)},
    )
    assert preview.get_json()["material"] is False
    response = ana(
        "PATCH",
        f"/api/v1/changes/{change['id']}",
        {"starts_at": iso(T0 + 120 * HOUR), "ends_at": iso(T0 + 122 * HOUR)},
    )
    assert response.status_code == 200
    assert response.get_json()["revision"]["material"] is False
    earlier = ana(
        "PATCH",
        f"/api/v1/changes/{change['id']}",
        {"starts_at": iso(T0 + 40 * HOUR), "ends_at": iso(T0 + 41 * HOUR)},
    )
    assert earlier.status_code == 409
    assert earlier.get_json()["error"]["blocking_tenants"][0]["tenant"] == "tapai"


def test_cancel_scheduled_is_announced_and_in_progress_cannot_be_cancelled(ana, clock):
    change = _create(ana)
    ana("POST", f"/api/v1/changes/{change['id']}/publish")
    response = ana("POST", f"/api/v1/changes/{change['id']}/cancel", {"reason": "not needed"})
    assert response.get_json()["change"]["status"] == "cancelled"
    assert "change.cancelled" in actions(change["id"])
    again = ana("POST", f"/api/v1/changes/{change['id']}/cancel")
    assert again.status_code == 409
    assert ana("POST", f"/api/v1/changes/{change['id']}/complete").status_code == 409


# --- emergency ------------------------------------------------------------------------

JUSTIFICATION = "Actively exploited vulnerability in the model loader"


def _pending(ana):
    change = _create(ana, starts_at=iso(T0 + 6 * HOUR), ends_at=iso(T0 + 7 * HOUR))
    response = ana(
        "POST", f"/api/v1/changes/{change['id']}/emergency", {"justification": JUSTIFICATION}
    )
    assert response.status_code == 202
    assert response.get_json()["change"]["status"] == "pending_approval"
    return change


def test_emergency_needs_a_justification(ana):
    change = _create(ana, starts_at=iso(T0 + 6 * HOUR), ends_at=iso(T0 + 7 * HOUR))
    for body in ({}, {"justification": 5}, {"justification": "because"}):
        response = ana("POST", f"/api/v1/changes/{change['id']}/emergency", body)
        assert response.status_code == 400
        assert response.get_json()["error"]["field"] == "justification"


def test_emergency_approved_by_its_own_author_is_refused(ana, story, client, bearer):
    change = _pending(ana)
    response = ana("POST", f"/api/v1/changes/{change['id']}/emergency/approve")
    assert response.status_code == 403 and "author" in response.get_json()["error"]["message"]
    # Even an author holding the approver right cannot approve their own change.
    bo = bearer(story.bo)
    own = client.post(
        "/api/v1/changes",
        json=change_body(starts_at=iso(T0 + 6 * HOUR), ends_at=iso(T0 + 7 * HOUR)),
        headers=bo,
    ).get_json()
    client.post(
        f"/api/v1/changes/{own['change']['id']}/emergency",
        json={"justification": JUSTIFICATION},
        headers=bo,
    )
    response = client.post(f"/api/v1/changes/{own['change']['id']}/emergency/approve", headers=bo)
    assert response.status_code == 403
    assert db.session.get(Change, change["id"]).status == "pending_approval"


def test_engineer_without_approver_right_cannot_approve(story, client, bearer, ana, make_user):
    change = _pending(ana)
    from tests.changes.conftest import api_user

    dee = api_user("dee@provider.example", teams=[story.team])
    db.session.commit()
    response = client.post(f"/api/v1/changes/{change['id']}/emergency/approve", headers=bearer(dee))
    assert response.status_code == 403
    other_team = client.post(
        f"/api/v1/changes/{change['id']}/emergency/approve", headers=bearer(story.cy)
    )
    assert other_team.status_code == 404


def test_approval_publishes_short_notice_with_a_breach_per_tenant(
    ana, story, client, bearer, clock
):
    change = _pending(ana)
    response = client.post(
        f"/api/v1/changes/{change['id']}/emergency/approve",
        json={"note": "ok"},
        headers=bearer(story.bo),
    )
    assert response.status_code == 200
    body = response.get_json()["change"]
    assert body["status"] == "scheduled" and body["short_notice"] is True
    breaches = db.session.query(NoticeBreach).filter_by(change_id=change["id"]).all()
    assert {b.tenant_id for b in breaches} == {story.tapai.id, story.ptu.id}
    assert all(
        b.given_notice_seconds == 6 * 3600 and b.approved_by_id == story.bo.id for b in breaches
    )
    log = actions(change["id"])
    assert log.count("change.notice_breach") == 2
    assert log.index("change.emergency_requested") < log.index("change.emergency_approved")
    gate = ana("GET", f"/api/v1/changes/{change['id']}/gate").get_json()
    assert gate["open"] is False and gate["opens_at"] == iso(T0 + 6 * HOUR)
    clock.set(T0 + 6 * HOUR)
    assert ana("GET", f"/api/v1/changes/{change['id']}/gate").get_json()["open"] is True


def test_rejection_needs_a_reason_and_returns_the_change_to_draft(ana, story, client, bearer):
    change = _pending(ana)
    bo = bearer(story.bo)
    missing = client.post(f"/api/v1/changes/{change['id']}/emergency/reject", json={}, headers=bo)
    assert missing.status_code == 400 and missing.get_json()["error"]["field"] == "reason"
    response = client.post(
        f"/api/v1/changes/{change['id']}/emergency/reject",
        json={"reason": "Wait for the maintenance window"},
        headers=bo,
    )
    assert response.get_json()["change"]["status"] == "draft"
    assert "change.emergency_rejected" in actions(change["id"])
    assert (
        client.post(f"/api/v1/changes/{change['id']}/emergency/approve", headers=bo).status_code
        == 409
    )


def test_emergency_for_a_change_with_enough_notice_is_refused(ana):
    change = _create(ana)
    response = ana(
        "POST", f"/api/v1/changes/{change['id']}/emergency", {"justification": JUSTIFICATION}
    )
    assert response.status_code == 409 and "normally" in response.get_json()["error"]["message"]


def test_the_engineer_who_requested_the_emergency_cannot_approve_it(ana, story, client, bearer):
    change = _create(ana, starts_at=iso(T0 + 6 * HOUR), ends_at=iso(T0 + 7 * HOUR))
    bo = bearer(story.bo)  # an approver, not the author, asks for the emergency himself
    asked = client.post(
        f"/api/v1/changes/{change['id']}/emergency",
        json={"justification": JUSTIFICATION},
        headers=bo,
    )
    assert asked.status_code == 202
    response = client.post(f"/api/v1/changes/{change['id']}/emergency/approve", headers=bo)
    assert (
        response.status_code == 403
        and "another approver" in response.get_json()["error"]["message"]
    )
    assert db.session.get(Change, change["id"]).status == "pending_approval"
