"""The engineers' and customers' change screens: list, editor with preview, change page.

Uses the DESIGN.md story from ``tests/changes/conftest.py``: Tapai needs 72 h on Face Fusion
API by contract, the degradation policy is 24 h, Ana authors, Bo approves, Cy is in another
team.
"""

from __future__ import annotations

import datetime as dt

import pytest
from flask import g

from portal.changes import services
from portal.changes.models import Change
from portal.extensions import db
from tests.conftest import T0

HOUR = dt.timedelta(hours=1)


def form_data(**overrides) -> dict:
    """Editor input: wall times in Europe/Berlin (UTC+1 in November)."""
    data = {
        "title": "Upgrade the fusion model",
        "body": "Output **resolution** changes.",
        "services": ["face-fusion-api"],
        "impact": "degradation",
        "starts_at": (T0 + 96 * HOUR + HOUR).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (T0 + 98 * HOUR + HOUR).strftime("%Y-%m-%dT%H:%M"),
        "time_zone": "Europe/Berlin",
        "visibility": "affected",
        "action": "save",
    }
    data.update(overrides)
    return data


def make_draft(story, starts_in=96, **kw) -> Change:
    from tests.factories import make_change

    change = make_change(
        services=[story.service], author=story.ana, starts_at=T0 + starts_in * HOUR, **kw
    )
    db.session.commit()
    return change


def as_user(login, user):
    """Sign the test client in as ``user``. pytest-flask keeps one app context (and so one
    ``g``) for the whole test, where Flask-Login caches the previous user: forget it first."""
    g.pop("_login_user", None)
    return login(user)


def publish(change, story) -> None:
    services.publish(change, actor=story.ana, now=T0)
    db.session.commit()


def test_engineer_creates_a_draft_with_an_explicit_zone(story, login):
    client = login(story.ana)
    response = client.post("/changes/new", data=form_data())
    assert response.status_code == 302
    change = db.session.query(Change).one()
    assert change.status == "draft"
    # 10:00 in Berlin on 6 Nov is 09:00 UTC.
    assert change.starts_at == T0 + 96 * HOUR
    assert change.author_id == story.ana.id
    page = client.get(response.location)
    assert b"Upgrade the fusion model" in page.data
    assert b"<strong>resolution</strong>" in page.data


def test_preview_shows_count_strictest_earliest_start_and_blockers(story, login):
    client = login(story.ana)
    starts = (T0 + 30 * HOUR).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        "/changes/new",
        data=form_data(
            action="preview",
            starts_at=starts,
            ends_at=(T0 + 32 * HOUR).strftime("%Y-%m-%dT%H:%M"),
            time_zone="UTC",
        ),
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-preview="affected">2<' in html
    assert "72 h for Tapai" in html
    # p + 72 h + 1 h margin = Thu 05 Nov 10:00 UTC.
    assert "Thu 5 Nov 2026 10:00" in html
    assert "Tapai" in html and "would get too little notice" in html
    assert db.session.query(Change).count() == 0  # a preview saves nothing


def test_preview_fragment_for_progressive_enhancement(story, login):
    client = login(story.ana)
    response = client.post(
        "/changes/new", data=form_data(action="preview"), headers={"X-Forewarn-Fragment": "preview"}
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith("{#") is False
    assert 'id="notice-preview"' in html and "<html" not in html
    assert "publishable" in html


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"title": ""}, "This field is required"),
        (
            {
                "starts_at": (T0 + 100 * HOUR).strftime("%Y-%m-%dT%H:%M"),
                "ends_at": (T0 + 99 * HOUR).strftime("%Y-%m-%dT%H:%M"),
            },
            "end must be after the start",
        ),
        ({"starts_at": (T0 - 5 * HOUR).strftime("%Y-%m-%dT%H:%M")}, "the start is in the past"),
        ({"services": ["no-such-service"]}, "unknown service"),
        ({"impact": "catastrophic"}, "unknown impact level"),
        ({"time_zone": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"starts_at": "next tuesday"}, "is not an ISO-8601"),
        ({"services": ["blob-store"]}, "not a member of the team"),
    ],
)
def test_bad_input_is_a_form_message_not_a_500(story, login, overrides, message):
    client = login(story.ana)
    response = client.post("/changes/new", data=form_data(**overrides))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.query(Change).count() == 0


@pytest.mark.parametrize(
    "wall, message",
    [
        ("2027-03-28T02:30", "does not exist in Europe/Berlin"),
        ("2027-10-31T02:30", "happens twice in Europe/Berlin"),
    ],
)
def test_daylight_saving_gap_and_overlap_are_refused(story, login, wall, message):
    client = login(story.ana)
    response = client.post(
        "/changes/new", data=form_data(starts_at=wall, ends_at="2027-11-01T12:00")
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_list_filters_by_status_service_impact_and_text(story, login):
    make_draft(story, title="Upgrade the fusion model")
    make_draft(story, title="Rotate certificates", impact="maintenance")
    client = login(story.ana)
    html = client.get("/changes?when=all").get_data(as_text=True)
    assert "Upgrade the fusion model" in html and "Rotate certificates" in html
    html = client.get("/changes?when=all&impact=maintenance").get_data(as_text=True)
    assert "Rotate certificates" in html and "Upgrade the fusion model" not in html
    html = client.get("/changes?when=all&q=fusion&status=draft&service=face-fusion-api").get_data(
        as_text=True
    )
    assert "Upgrade the fusion model" in html and "Rotate certificates" not in html
    html = client.get("/changes?when=all&status=scheduled").get_data(as_text=True)
    assert "No change matches" in html
    assert client.get("/changes?when=all&status=bogus&page=x").status_code == 200


def test_another_teams_engineer_gets_404(story, login):
    change = make_draft(story)
    client = login(story.cy)
    assert client.get(f"/changes/{change.id}").status_code == 404
    assert client.get(f"/changes/{change.id}/edit").status_code == 404
    assert client.post(f"/changes/{change.id}/publish").status_code == 404
    assert "Upgrade the fusion model" not in client.get("/changes?when=all").get_data(as_text=True)


def test_drafts_are_invisible_to_customers_first_party_included(story, login):
    change = make_draft(story)
    for user in (story.tapai_user, story.ptu_user):
        client = as_user(login, user)
        assert client.get(f"/changes/{change.id}").status_code == 404
        assert "Upgrade the fusion model" not in client.get("/changes").get_data(as_text=True)


def test_customer_sees_published_change_in_own_zone_but_not_other_tenants(story, login):
    change = make_draft(story)
    publish(change, story)
    story.tapai_user.time_zone = "Asia/Tokyo"
    db.session.commit()
    client = login(story.tapai_user)
    html = client.get("/changes").get_data(as_text=True)
    assert "Upgrade the fusion model" in html
    page = client.get(f"/changes/{change.id}").get_data(as_text=True)
    # 09:00 UTC on Fri 6 Nov is 18:00 in Tokyo, with UTC alongside.
    assert "Fri 6 Nov 2026 18:00 UTC+9 (09:00 UTC)" in page
    assert "History" in page and "Announced" in page
    assert "material" not in page and "publish" not in page  # internal words are for staff
    assert "Go-live gates" not in page  # staff only
    bystander = as_user(login, story.bystander_user)
    assert bystander.get(f"/changes/{change.id}").status_code == 404
    assert "Upgrade the fusion model" not in bystander.get("/changes").get_data(as_text=True)


def test_customer_past_tab_lists_completed_changes(story, login, clock):
    change = make_draft(story)
    publish(change, story)
    change.status = "completed"
    db.session.commit()
    client = login(story.tapai_user)
    assert "Upgrade the fusion model" not in client.get("/changes").get_data(as_text=True)
    assert "Upgrade the fusion model" in client.get("/changes?when=past").get_data(as_text=True)


def test_staff_change_page_shows_gate_table_and_revisions(story, login):
    change = make_draft(story)
    publish(change, story)
    html = login(story.ana).get(f"/changes/{change.id}").get_data(as_text=True)
    assert "Go-live gates" in html
    assert "0 of 2 tenant gates open" in html
    assert "Tapai" in html and "Ptu" in html
    assert "published" in html  # revision summary


def test_account_manager_sees_only_their_tenants_gates(story, login):
    change = make_draft(story)
    publish(change, story)
    html = login(story.manager).get(f"/changes/{change.id}").get_data(as_text=True)
    assert "Go-live gates" in html
    assert "Ptu" in html
    assert "Tapai" not in html


def test_edit_of_published_change_shows_material_or_not_before_saving(story, login):
    change = make_draft(story)
    publish(change, story)
    client = login(story.ana)
    later = form_data(
        action="preview",
        time_zone="UTC",
        starts_at=(T0 + 120 * HOUR).strftime("%Y-%m-%dT%H:%M"),
        ends_at=(T0 + 121 * HOUR).strftime("%Y-%m-%dT%H:%M"),
    )
    html = client.post(f"/changes/{change.id}/edit", data=later).get_data(as_text=True)
    assert "non-material" in html
    longer = dict(later, ends_at=(T0 + 130 * HOUR).strftime("%Y-%m-%dT%H:%M"))
    html = client.post(f"/changes/{change.id}/edit", data=longer).get_data(as_text=True)
    assert "material</span> end moved later" in html
    response = client.post(f"/changes/{change.id}/edit", data=dict(later, action="save"))
    assert response.status_code == 302
    db.session.refresh(change)
    assert change.revision_number == 2 and change.starts_at == T0 + 120 * HOUR


def test_material_revision_inside_the_window_is_refused_on_the_form(story, login):
    change = make_draft(story)
    publish(change, story)
    client = login(story.ana)
    earlier = form_data(
        time_zone="UTC",
        starts_at=(T0 + 40 * HOUR).strftime("%Y-%m-%dT%H:%M"),
        ends_at=(T0 + 41 * HOUR).strftime("%Y-%m-%dT%H:%M"),
    )
    response = client.post(f"/changes/{change.id}/edit", data=earlier)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Refused" in html and "Tapai" in html
    db.session.refresh(change)
    assert change.revision_number == 1 and change.starts_at == T0 + 96 * HOUR


def test_editing_a_completed_change_is_refused(story, login):
    change = make_draft(story)
    publish(change, story)
    change.status = "completed"
    db.session.commit()
    client = login(story.ana)
    response = client.post(f"/changes/{change.id}/edit", data=form_data())
    assert response.status_code == 302
    assert "cannot be edited" in client.get(response.location).get_data(as_text=True)
    db.session.refresh(change)
    assert change.revision_number == 1


def test_customers_cannot_open_the_editor(story, login):
    client = login(story.tapai_user)
    assert client.get("/changes/new").status_code == 403


def test_account_manager_lists_published_changes_of_their_tenants_only(
    story, login, make_service, make_usage
):
    draft = make_draft(story, title="Still a draft")
    published = make_draft(story, title="Published for Ptu")
    publish(published, story)
    client = login(story.manager)
    html = client.get("/changes?when=all").get_data(as_text=True)
    assert "Published for Ptu" in html and "Still a draft" not in html
    assert client.get(f"/changes/{draft.id}").status_code == 404
    assert client.get("/changes/new").status_code == 403


def test_customer_page_hides_staff_details(story, login):
    change = make_draft(story)
    publish(change, story)
    html = login(story.ptu_user).get(f"/changes/{change.id}").get_data(as_text=True)
    assert "Owning team" not in html and "Ana" not in html
    assert "Reschedule" not in html and "Start for all tenants" not in html


def test_body_markdown_is_sanitised_on_the_change_page(story, login):
    change = make_draft(story, body="Hi <script>alert(1)</script> [x](javascript:alert(2))")
    html = login(story.ana).get(f"/changes/{change.id}").get_data(as_text=True)
    assert "<script>alert(1)" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;alert(1)" in html  # shown as text, never run


def test_gate_list_pages_and_a_page_past_the_end_shows_the_last(story, login, monkeypatch):
    monkeypatch.setattr("portal.changes.routes.GATE_ROWS_SHOWN", 1)
    change = make_draft(story)
    publish(change, story)
    client = login(story.ana)
    first = client.get(f"/changes/{change.id}").data
    assert b"page 1 of 2 (2 tenants)" in first
    assert b"gates_page=2" in first
    second = client.get(f"/changes/{change.id}?gates_page=2").data
    assert b"page 2 of 2 (2 tenants)" in second
    past = client.get(f"/changes/{change.id}?gates_page=99").data
    assert b"page 2 of 2 (2 tenants)" in past
    assert client.get(f"/changes/{change.id}?gates_page=-3").status_code == 200


def test_a_service_filter_longer_than_the_slug_matches_nothing(story, login):
    story.service.slug = "s" * 64  # the longest slug there is
    make_draft(story, title="Upgrade the fusion model")
    client = login(story.ana)
    html = client.get(f"/changes?when=all&service={'s' * 64}").get_data(as_text=True)
    assert "Upgrade the fusion model" in html
    html = client.get(f"/changes?when=all&service={'s' * 64}JUNK").get_data(as_text=True)
    assert "Upgrade the fusion model" not in html and "No change matches" in html
