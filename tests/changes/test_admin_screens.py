"""Admin screens for notice policies, contract terms and provider blackout windows; tenant
admins' own blackout windows within the admin-set limits. Every change writes the ledger."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from portal.changes.models import BlackoutWindow, ImpactLevel, ServicePolicy
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.tenants.models import ContractTerm
from tests.changes.test_screens import as_user
from tests.conftest import T0


@pytest.fixture(autouse=True)
def committed(story, admin):
    """Commit the fixtures' rows: a refused form rolls the request's session back."""
    db.session.commit()


def ledger(action: str) -> int:
    return db.session.execute(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.action == action)
    ).scalar_one()


def test_only_admins_reach_the_policy_screens(story, login, admin):
    for user in (story.ana, story.manager, story.tapai_user):
        client = as_user(login, user)
        assert client.get("/admin/notice").status_code == 403
        assert client.post("/admin/notice/levels", data={"code": "x"}).status_code == 403
        assert client.get(f"/admin/notice/tenants/{story.tapai.id}/terms").status_code == 403
    html = as_user(login, admin).get("/admin/notice").get_data(as_text=True)
    assert "Impact levels" in html and "Degradation" in html


def test_admin_adds_an_impact_level_and_changes_a_notice(story, login, admin):
    client = login(admin)
    response = client.post(
        "/admin/notice/levels",
        data={"code": "outage", "name": "Planned outage", "rank": 50, "notice_hours": 336},
    )
    assert response.status_code == 302
    assert db.session.get(ImpactLevel, "outage").notice_seconds == 336 * 3600
    assert (
        client.post(
            "/admin/notice/levels",
            data={"code": "outage", "name": "Again", "rank": 60, "notice_hours": 1},
        ).status_code
        == 400
    )
    bad = client.post(
        "/admin/notice/levels",
        data={"code": "Bad Code!", "name": "x", "rank": 70, "notice_hours": 1},
    )
    assert bad.status_code == 400 and "lower-case letters" in bad.get_data(as_text=True)
    assert (
        client.post("/admin/notice/levels/maintenance", data={"notice_hours": 48}).status_code
        == 302
    )
    assert db.session.get(ImpactLevel, "maintenance").notice_seconds == 48 * 3600
    client.post("/admin/notice/levels/maintenance", data={"notice_hours": "-3"})
    assert db.session.get(ImpactLevel, "maintenance").notice_seconds == 48 * 3600
    assert client.post("/admin/notice/levels/nope", data={"notice_hours": 5}).status_code == 404
    assert ledger("policy.impact_level_added") == 1 and ledger("policy.impact_notice_changed") == 1


def test_service_policy_only_tightens(story, login, admin):
    client = login(admin)
    loose = client.post(
        "/admin/notice/policies",
        data={"service": story.service.id, "impact": "degradation", "notice_hours": 12},
    )
    assert loose.status_code == 400 and "can only ask for more" in loose.get_data(as_text=True)
    unknown = client.post(
        "/admin/notice/policies",
        data={"service": 9999, "impact": "degradation", "notice_hours": 100},
    )
    assert unknown.status_code == 400
    assert (
        client.post(
            "/admin/notice/policies",
            data={"service": story.service.id, "impact": "degradation", "notice_hours": 100},
        ).status_code
        == 302
    )
    policy = db.session.execute(select(ServicePolicy)).scalar_one()
    assert policy.notice_seconds == 100 * 3600
    assert client.post(f"/admin/notice/policies/{policy.id}/delete").status_code == 302
    assert db.session.execute(select(ServicePolicy)).first() is None
    assert ledger("policy.service_policy_set") == 1 and ledger("policy.service_policy_removed") == 1


def test_contract_terms_global_and_per_service(story, login, admin):
    client = login(admin)
    url = f"/admin/notice/tenants/{story.ptu.id}/terms"
    assert (
        client.post(url, data={"service": 0, "notice_hours": 48, "reference": "MSA §4"}).status_code
        == 302
    )
    assert (
        client.post(url, data={"service": story.service.id, "notice_hours": 96}).status_code == 302
    )
    assert client.post(url, data={"service": 0, "notice_hours": 0}).status_code == 400
    terms = (
        db.session.execute(select(ContractTerm).where(ContractTerm.tenant_id == story.ptu.id))
        .scalars()
        .all()
    )
    assert {(t.service_id, t.notice_seconds) for t in terms} == {
        (None, 48 * 3600),
        (story.service.id, 96 * 3600),
    }
    html = client.get(f"/admin/tenants/{story.ptu.id}").get_data(as_text=True)
    assert "Contract terms" in html and "MSA §4" in html
    term = terms[0]
    # A term of another tenant is a 404 under this tenant's URL.
    assert (
        client.post(f"/admin/notice/tenants/{story.tapai.id}/terms/{term.id}/delete").status_code
        == 404
    )
    assert client.post(f"{url}/{term.id}/delete").status_code == 302
    assert ledger("contract.term_added") == 2 and ledger("contract.term_removed") == 1


def test_provider_blackout_window_with_zone(story, login, admin):
    client = login(admin)
    response = client.post(
        "/admin/notice/blackouts",
        data={
            "starts_at": "2026-12-24T00:00",
            "ends_at": "2026-12-27T00:00",
            "time_zone": "Europe/Berlin",
            "reason": "Holidays",
        },
    )
    assert response.status_code == 302
    window = db.session.execute(select(BlackoutWindow)).scalar_one()
    assert window.tenant_id is None
    assert window.starts_at == dt.datetime(2026, 12, 23, 23, 0, tzinfo=dt.UTC)
    bad = client.post(
        "/admin/notice/blackouts",
        data={"starts_at": "2026-12-24T00:00", "ends_at": "2026-12-20T00:00", "time_zone": "UTC"},
    )
    assert bad.status_code == 400 and "end must be after the start" in bad.get_data(as_text=True)
    gap = client.post(
        "/admin/notice/blackouts",
        data={
            "starts_at": "2027-03-28T02:30",
            "ends_at": "2027-03-29T00:00",
            "time_zone": "Europe/Berlin",
        },
    )
    assert gap.status_code == 400 and "does not exist" in gap.get_data(as_text=True)
    assert client.post(f"/admin/notice/blackouts/{window.id}/delete").status_code == 302
    assert ledger("blackout.added") == 1 and ledger("blackout.removed") == 1


@pytest.fixture
def tapai_admin(story, make_user):
    user = make_user("admin@tapai.example", tenant=story.tapai, is_tenant_admin=True)
    db.session.commit()
    return user


def window(days_from_now: int, hours: int) -> dict:
    start = T0 + dt.timedelta(days=days_from_now)
    return {
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M"),
        "time_zone": "UTC",
        "reason": "our launch",
    }


def test_tenant_admin_declares_windows_within_limits(story, login, tapai_admin, app):
    app.config.update(TENANT_BLACKOUT_MAX_HOURS=48, TENANT_BLACKOUT_MAX_PER_YEAR=2)
    client = login(tapai_admin)
    too_long = client.post("/settings/blackouts", data=window(5, 49))
    assert too_long.status_code == 400 and "at most 48 h" in too_long.get_data(as_text=True)
    past = client.post("/settings/blackouts", data=window(-1, 2))
    assert past.status_code == 400
    assert client.post("/settings/blackouts", data=window(5, 48)).status_code == 302
    assert client.post("/settings/blackouts", data=window(10, 5)).status_code == 302
    third = client.post("/settings/blackouts", data=window(20, 5))
    assert third.status_code == 400 and "the limit is 2 a year" in third.get_data(as_text=True)
    windows = db.session.execute(select(BlackoutWindow)).scalars().all()
    assert {w.tenant_id for w in windows} == {story.tapai.id} and len(windows) == 2
    assert ledger("blackout.added") == 2


def test_tenant_blackouts_are_scoped_to_own_tenant(story, login, tapai_admin, make_user):
    from portal.changes.blackout_services import add_window

    theirs = add_window(
        tenant_id=story.ptu.id,
        starts_at=T0 + dt.timedelta(days=3),
        ends_at=T0 + dt.timedelta(days=4),
        reason="ptu launch",
        actor=None,
        now=T0,
    )
    provider = add_window(
        tenant_id=None,
        starts_at=T0 + dt.timedelta(days=3),
        ends_at=T0 + dt.timedelta(days=4),
        reason="freeze",
        actor=None,
        now=T0,
    )
    db.session.commit()
    client = login(tapai_admin)
    assert "ptu launch" not in client.get("/settings/blackouts").get_data(as_text=True)
    assert client.post(f"/settings/blackouts/{theirs.id}/delete").status_code == 404
    assert client.post(f"/settings/blackouts/{provider.id}/delete").status_code == 404
    assert db.session.get(BlackoutWindow, theirs.id) is not None
    # Ordinary customer users read but do not declare; staff have no tenant page.
    reader = as_user(login, story.tapai_user)
    html = reader.get("/settings/blackouts").get_data(as_text=True)
    assert "tenant admins declare" in html
    assert reader.post("/settings/blackouts", data=window(5, 2)).status_code == 403
    assert as_user(login, story.ana).get("/settings/blackouts").status_code == 403


def test_garbage_times_and_zones_are_form_messages(story, login, tapai_admin):
    client = login(tapai_admin)
    bad = client.post(
        "/settings/blackouts", data={"starts_at": "soon", "ends_at": "later", "time_zone": "UTC"}
    )
    assert bad.status_code == 400 and "This field is required" in bad.get_data(as_text=True)
    zone = client.post("/settings/blackouts", data=dict(window(5, 2), time_zone="Nowhere/Land"))
    assert zone.status_code == 400 and "unknown time zone" in zone.get_data(as_text=True)
    assert db.session.execute(select(BlackoutWindow)).first() is None


def test_blackout_times_are_24_hour_text_and_echoed_with_offset_and_utc(story, login, tapai_admin):
    client = login(tapai_admin)
    page = client.get("/settings/blackouts").get_data(as_text=True)
    assert 'type="datetime-local"' not in page
    response = client.post(
        "/settings/blackouts",
        data={
            "starts_at": "2026-12-24 00:00",
            "ends_at": "2026-12-25 18:30",
            "time_zone": "Asia/Kolkata",
            "reason": "year end",
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "read as Thu 24 Dec 2026 00:00 UTC+5:30 (Wed 23 Dec 18:30 UTC)" in html
    assert "Fri 25 Dec 2026 18:30 UTC+5:30 (13:00 UTC)" in html
    assert "IST" not in html
