"""What customers need to do, and by when (issue 15 item 1): one rule for the editor and the
API, kept in every revision's snapshot, sanitised when shown.

The rule (``portal.changes.inputs.check_customer_action``): an act-by time needs a "what you
need to do"; it must not be after the start nor (when new) in the past; the action may stand
alone; raw HTML in it is escaped and sanitised on render, never refused.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select

from portal.changes import services
from portal.changes.models import Change, Revision
from portal.extensions import db
from portal.notify.content import content_of
from portal.templating import render_markdown
from tests.changes.conftest import change_body, iso
from tests.changes.helpers import HOUR
from tests.changes.test_screens import form_data
from tests.conftest import T0

START = T0 + 96 * HOUR  # change_body's start
ACTION = "Re-run your **calibration** against the v2 sandbox."


@pytest.fixture
def api(client, story, bearer):
    headers = bearer(story.ana)

    def _call(method, url, body):
        return client.open(url, method=method, json=body, headers=headers)

    return _call


def _count() -> int:
    return db.session.execute(select(func.count()).select_from(Change)).scalar_one()


def test_api_stores_and_returns_customer_action_and_act_by(api):
    response = api(
        "POST", "/api/v1/changes", change_body(customer_action=ACTION, act_by=iso(START - HOUR))
    )
    assert response.status_code == 201, response.get_json()
    change = response.get_json()["change"]
    assert change["customer_action"] == ACTION
    assert change["act_by"] == iso(START - HOUR)
    stored = db.session.get(Change, change["id"])
    assert stored.customer_action == ACTION and stored.act_by == START - HOUR


def test_act_by_as_wall_time_in_the_given_zone(api):
    body = change_body(
        time_zone="Asia/Taipei",
        starts_at="2026-11-06T17:00",
        ends_at="2026-11-06T19:00",
        customer_action=ACTION,
        act_by="2026-11-06 05:00",  # space or T; 05:00 in Taipei is 21:00 UTC the day before
    )
    response = api("POST", "/api/v1/changes", body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["change"]["act_by"] == "2026-11-05T21:00:00+00:00"


def test_customer_action_alone_is_allowed(api):
    response = api("POST", "/api/v1/changes", change_body(customer_action=ACTION))
    assert response.status_code == 201
    assert response.get_json()["change"]["act_by"] is None


@pytest.mark.parametrize(
    "overrides, field, reason",
    [
        # An act-by after the start: customers must be able to act before the change.
        (
            {"customer_action": ACTION, "act_by": iso(START + HOUR)},
            "act_by",
            "is after the change starts",
        ),
        # An act-by with nothing to do by it: the "what you need to do" is missing.
        ({"act_by": iso(START - HOUR)}, "customer_action", "needs a"),
        ({"customer_action": "   ", "act_by": iso(START - HOUR)}, "customer_action", "needs a"),
        ({"customer_action": ACTION, "act_by": "next tuesday"}, "act_by", "ISO-8601"),
        ({"customer_action": ACTION, "act_by": "2026-11-05T21:00"}, "act_by", "no zone"),
        ({"customer_action": ACTION, "act_by": 1762419600}, "act_by", "ISO-8601"),
        ({"customer_action": ACTION, "act_by": iso(T0 - HOUR)}, "act_by", "in the past"),
        ({"customer_action": ["x"]}, "customer_action", "Markdown text"),
        ({"customer_action": "x" * 20_001}, "customer_action", "under 20,000"),
    ],
)
def test_bad_customer_action_or_act_by_is_400_naming_the_field(api, overrides, field, reason):
    response = api("POST", "/api/v1/changes", change_body(**overrides))
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == field and reason in error["message"], error
    assert _count() == 0


def test_act_by_after_start_says_both_times_in_the_zone_and_utc(api):
    body = change_body(
        time_zone="Asia/Taipei",
        starts_at="2026-11-06T17:00",
        ends_at="2026-11-06T19:00",
        customer_action=ACTION,
        act_by="2026-11-06T18:00",
    )
    message = api("POST", "/api/v1/changes", body).get_json()["error"]["message"]
    assert "Fri 6 Nov 2026 18:00 UTC+8 (10:00 UTC)" in message
    assert "Fri 6 Nov 2026 17:00 UTC+8 (09:00 UTC)" in message
    assert "CST" not in message


def test_patch_moving_the_start_before_the_act_by_is_refused(api):
    created = api(
        "POST", "/api/v1/changes", change_body(customer_action=ACTION, act_by=iso(START - HOUR))
    ).get_json()["change"]
    url = f"/api/v1/changes/{created['id']}"
    early = api("PATCH", url, {"starts_at": iso(START - 2 * HOUR), "ends_at": iso(START + HOUR)})
    assert early.status_code == 400 and early.get_json()["error"]["field"] == "act_by"
    # Dropping the action but keeping the deadline is refused; clearing both is fine.
    orphan = api("PATCH", url, {"customer_action": ""})
    assert orphan.status_code == 400 and orphan.get_json()["error"]["field"] == "customer_action"
    cleared = api("PATCH", url, {"customer_action": "", "act_by": ""})
    assert cleared.status_code == 200, cleared.get_json()
    assert cleared.get_json()["change"]["customer_action"] == ""
    assert cleared.get_json()["change"]["act_by"] is None


def test_a_kept_act_by_that_has_passed_does_not_block_other_edits(api, clock):
    created = api(
        "POST", "/api/v1/changes", change_body(customer_action=ACTION, act_by=iso(T0 + HOUR))
    ).get_json()["change"]
    clock.set(T0 + 2 * HOUR)
    response = api("PATCH", f"/api/v1/changes/{created['id']}", {"title": "Typo fixed"})
    assert response.status_code == 200, response.get_json()
    moved = api(
        "PATCH",
        f"/api/v1/changes/{created['id']}",
        {"act_by": iso(T0 + HOUR + dt.timedelta(minutes=1))},
    )
    assert moved.status_code == 400 and "in the past" in moved.get_json()["error"]["message"]


def test_each_revision_snapshot_keeps_its_own_action_and_deadline(api, story):
    created = api(
        "POST", "/api/v1/changes", change_body(customer_action=ACTION, act_by=iso(START - HOUR))
    ).get_json()["change"]
    change = db.session.get(Change, created["id"])
    services.publish(change, actor=story.ana, now=T0)
    db.session.commit()
    revised = api(
        "PATCH",
        f"/api/v1/changes/{change.id}",
        {"customer_action": "Nothing after all.", "act_by": ""},
    )
    assert revised.status_code == 200, revised.get_json()
    first, second = db.session.execute(
        select(Revision).where(Revision.change_id == change.id).order_by(Revision.number)
    ).scalars()
    one = content_of(change.id, first.number, first.kind, first.snapshot)
    two = content_of(change.id, second.number, second.kind, second.snapshot)
    assert (one.customer_action, one.act_by) == (ACTION, START - HOUR)
    assert (two.customer_action, two.act_by) == ("Nothing after all.", None)
    assert json.loads(second.snapshot)["act_by"] is None


def test_snapshots_from_before_the_fields_existed_still_parse():
    old = json.dumps({"title": "t", "starts_at": iso(START), "ends_at": iso(START + HOUR)})
    content = content_of(1, 1, "publish", old)
    assert content.customer_action == "" and content.act_by is None


def test_script_in_customer_action_is_sanitised_when_rendered():
    html = str(
        render_markdown(
            "Update <script>alert(1)</script> <img src=x onerror=alert(2)> "
            "[here](javascript:alert(3)) and [docs](https://docs.example/v2)"
        )
    )
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html  # shown as text, never run
    assert 'href="https://docs.example/v2"' in html


# The editor: the same rule, the message next to the field, nothing saved.
@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"customer_action": ACTION, "act_by": "2026-11-06T11:00"}, "is after the change starts"),
        ({"customer_action": "", "act_by": "2026-11-06T08:00"}, "needs a"),
        ({"customer_action": ACTION, "act_by": "6/11/2026 8am"}, "ISO-8601"),
        ({"customer_action": ACTION, "act_by": "2026-11-01T08:00"}, "in the past"),
    ],
)
def test_editor_refuses_bad_act_by_with_a_message(story, login, overrides, message):
    client = login(story.ana)
    response = client.post("/changes/new", data=form_data(**overrides))
    assert response.status_code == 400
    assert message in response.text
    assert _count() == 0


def test_editor_saves_action_and_act_by_in_the_chosen_zone(story, login):
    client = login(story.ana)
    response = client.post(
        "/changes/new",
        data=form_data(customer_action=ACTION, act_by="2026-11-06T08:00"),  # Berlin, UTC+1
    )
    assert response.status_code == 302
    change = db.session.query(Change).one()
    assert change.customer_action == ACTION
    assert change.act_by == START - 2 * HOUR  # 07:00 UTC
    edit = client.get(f"/changes/{change.id}/edit").text
    assert 'value="2026-11-06 07:00"' in edit  # shown back in the viewer's zone (UTC)


def test_editor_takes_24_hour_iso_text_and_echoes_what_it_understood(story, login):
    client = login(story.ana)
    form = client.get("/changes/new").text
    assert 'type="datetime-local"' not in form  # 12-hour AM/PM pickers in many locales
    assert re.search(r'name="starts_at"[^>]*placeholder="2026-12-03 05:00"', form)
    response = client.post(
        "/changes/new",
        data=form_data(
            time_zone="Asia/Taipei",
            starts_at="2026-11-06 17:00",
            ends_at="2026-11-06 19:00",
            customer_action=ACTION,
            act_by="2026-11-06 05:00",
            action="preview",
        ),
        headers={"X-Forewarn-Fragment": "preview"},
    )
    assert response.status_code == 200
    echo = response.text
    assert "Start read as</dt><dd>Fri 6 Nov 2026 17:00 UTC+8 (09:00 UTC)" in echo
    assert "Act by read as</dt><dd>Fri 6 Nov 2026 05:00 UTC+8 (Thu 5 Nov 21:00 UTC)" in echo
    garbage = client.post(
        "/changes/new", data=form_data(act_by="5pm tomorrow", customer_action=ACTION)
    )
    assert garbage.status_code == 400
    assert re.search(r"Act by read as</dt><dd><span class=\"error\">[^<]*ISO-8601", garbage.text)
