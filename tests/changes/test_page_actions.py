"""The change page offers what the services allow, and explains what it cannot do yet
(issue #16 item 2, issue #19 item 2): Start disabled with when the first gate opens, "start
only open gates" only when one is open, gates grouped by state and reason and paged, overdue
changes marked, and the buttons asked of ``portal.changes.actions``, not restated in the page.
"""

from __future__ import annotations

from portal.changes import actions, emergency, lifecycle
from portal.changes.models import DRAFT, PENDING_APPROVAL
from portal.extensions import db
from tests.changes.test_screens import HOUR, make_draft, publish
from tests.changes.test_screens_actions import deliver
from tests.conftest import T0


def page_of(client, change) -> str:
    return client.get(f"/changes/{change.id}").get_data(as_text=True)


def test_start_is_disabled_until_a_gate_opens_and_says_when(story, login, clock):
    change = make_draft(story)  # starts T0 + 96 h; Tapai needs 72 h, Ptu 24 h
    publish(change, story)
    deliver(change, story.ptu, T0)
    deliver(change, story.tapai, T0 + 30 * HOUR)
    clock.set(T0 + 94 * HOUR)
    html = page_of(login(story.ana), change)
    assert "Start for all tenants</button>" in html and "disabled" in html
    assert "No tenant&#39;s gate is open yet; the first opens in 2 h." in html
    assert "Start only tenants whose gate is open" not in html


def test_only_open_gates_is_offered_only_when_one_is_open(story, login, clock):
    change = make_draft(story)
    publish(change, story)
    deliver(change, story.ptu, T0)  # Tapai's notice never delivered: its gate stays shut
    clock.set(T0 + 97 * HOUR)
    html = page_of(login(story.ana), change)
    assert "Start only tenants whose gate is open" in html
    assert 'id="start-why"' not in html


def test_gates_are_grouped_by_state_and_reason(story, login, clock):
    change = make_draft(story)
    publish(change, story)
    deliver(change, story.ptu, T0)
    clock.set(T0 + 97 * HOUR)
    html = page_of(login(story.ana), change)
    assert 'aria-label="gates by state and reason"' in html
    groups = actions.group_gates(lifecycle.gates(change, clock.now()))
    assert [(g.open, g.count) for g in groups] == [(False, 1), (True, 1)]


def test_a_scheduled_change_past_its_start_is_overdue(story, login, clock):
    change = make_draft(story)
    publish(change, story)
    assert "overdue" not in page_of(login(story.ana), change)
    clock.set(T0 + 97 * HOUR)
    assert "overdue: the start has passed" in page_of(login(story.ana), change)


def test_the_page_follows_the_rule_it_is_given(story, login, monkeypatch):
    """Change the rule (not the template) and the page follows."""
    change = make_draft(story)
    client = login(story.ana)
    assert "Cancel change" in page_of(client, change)
    monkeypatch.setattr(actions, "CANCELLABLE", (PENDING_APPROVAL,))
    assert "Cancel change" not in page_of(client, change)
    monkeypatch.setattr(actions, "EDITABLE", ())
    assert ">Edit</a>" not in page_of(client, change)
    monkeypatch.setattr(actions, "EDITABLE", (DRAFT,))
    assert ">Edit</a>" in page_of(client, change)


def test_the_refusal_names_each_requirements_source_and_offers_the_earliest_start(story, login):
    change = make_draft(story, starts_in=30)
    html = login(story.ana).post(f"/changes/{change.id}/publish").get_data(as_text=True)
    assert "Required by" in html and "contract (" in html  # Tapai's 72 h is contractual
    assert f"/changes/{change.id}/edit?reschedule=earliest" in html
    assert "Reschedule to the earliest allowed start" in html


def test_reschedule_to_earliest_prefills_the_editor_keeping_the_duration(story, login):
    change = make_draft(story, starts_in=30)  # two hours long
    html = (
        login(story.ana)
        .get(f"/changes/{change.id}/edit?reschedule=earliest")
        .get_data(as_text=True)
    )
    # p + 72 h + 1 h margin = Thu 05 Nov 10:00 UTC; the viewer's zone is UTC here.
    assert 'value="2026-11-05 10:00"' in html and 'value="2026-11-05 12:00"' in html
    assert "publishable" in html  # the notice check ran on the pre-filled start
    assert "moved to the earliest allowed start" in html


def test_notice_check_shows_on_the_draft_page_and_when_the_editor_opens(story, login):
    change = make_draft(story, starts_in=30)
    client = login(story.ana)
    page = page_of(client, change)
    assert "Notice check" in page and "1 tenant would get too little notice" in page
    assert "Reschedule to the earliest allowed start" in page
    editor = client.get(f"/changes/{change.id}/edit").get_data(as_text=True)
    assert 'data-preview="affected">2<' in editor and "would get too little notice" in editor


def test_publish_and_approve_ask_first_with_what_they_will_send(story, login):
    change = make_draft(story)
    html = page_of(login(story.ana), change)
    # Tapai and Ptu, one notice contact each (the factory's default), Ptu first-party.
    assert "Publish…</summary>" in html
    assert "Publishing tells <strong>2</strong> tenants at once: 2 emails" in html
    assert "the 1 first-party after them" in html


JUSTIFICATION = "A security fix that cannot wait for the window."


def test_the_emergency_section_asks_the_authors_rule_of_the_service(story, login, monkeypatch):
    """The author may not decide their own emergency change: the page asks
    ``emergency.author_barred``, the predicate ``approve`` and ``reject`` check."""
    change = make_draft(story, starts_in=30)
    for membership in story.ana.memberships:
        membership.is_approver = True  # Ana holds the approver right; only the rule stops her
    db.session.commit()
    client = login(story.ana)
    client.post(f"/changes/{change.id}/emergency", data={"justification": JUSTIFICATION})
    page = page_of(client, change)
    assert "you cannot approve your own change" in page and "Approve as short notice" not in page
    monkeypatch.setattr(emergency, "author_barred", lambda user, change: False)
    page = page_of(client, change)
    assert "you cannot approve your own change" not in page and "Approve as short notice" in page


def test_the_publish_refusal_offers_an_emergency_request_only_when_the_service_takes_one(
    story, login, monkeypatch
):
    change = make_draft(story, starts_in=30)
    client = login(story.ana)
    refusal = client.post(f"/changes/{change.id}/publish").get_data(as_text=True)
    assert "Request emergency approval" in refusal
    monkeypatch.setattr(emergency, "REQUESTABLE", ())  # no status may ask any more
    refusal = client.post(f"/changes/{change.id}/publish").get_data(as_text=True)
    assert "Publishing refused" in refusal and "Request emergency approval" not in refusal
    client.post(f"/changes/{change.id}/emergency", data={"justification": JUSTIFICATION})
    db.session.refresh(change)
    assert change.status == DRAFT  # the service refuses what the page no longer offers


def test_the_start_refusal_offers_only_open_gates_from_the_pages_start_offer(
    story, login, clock, monkeypatch
):
    change = make_draft(story)
    publish(change, story)
    deliver(change, story.ptu, T0)  # Ptu's gate opens, Tapai's stays shut
    clock.set(T0 + 97 * HOUR)
    client = login(story.ana)
    refusal = client.post(f"/changes/{change.id}/start").get_data(as_text=True)
    assert "Start only tenants whose gate is open" in refusal
    monkeypatch.setattr(actions, "STARTABLE", ())
    refusal = client.post(f"/changes/{change.id}/start").get_data(as_text=True)
    assert "Start refused" in refusal and "Start only tenants whose gate is open" not in refusal
    assert "No gate is open yet" in refusal
