"""The editor keeps what was not edited (issue #12 item 8): a title-only web edit of a change
whose stored start has seconds, or falls in a daylight-saving hour that happens twice, leaves
the stored times exactly as they were (no material revision, nobody's clock restarts)."""

from __future__ import annotations

import datetime as dt
import re

from portal.extensions import db
from tests.changes.test_screens import as_user, make_draft, publish
from tests.conftest import T0


def prefilled(html: str, name: str) -> str:
    return re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)


def resubmit(client, change, **changes):
    html = client.get(f"/changes/{change.id}/edit").get_data(as_text=True)
    data = {
        "title": prefilled(html, "title"),
        "body": change.body_md,
        "services": ["face-fusion-api"],
        "impact": change.impact,
        "starts_at": prefilled(html, "starts_at"),
        "ends_at": prefilled(html, "ends_at"),
        "time_zone": "UTC",  # the viewer's zone, which the editor pre-selects
        "visibility": change.visibility,
        "action": "save",
    }
    data.update(changes)
    return client.post(f"/changes/{change.id}/edit", data=data), data


def test_a_title_only_edit_keeps_the_seconds_of_the_stored_start(story, login):
    change = make_draft(story)
    change.starts_at = T0 + dt.timedelta(hours=96, seconds=30)
    db.session.commit()
    publish(change, story)
    client = as_user(login, story.ana)
    response, sent = resubmit(client, change, title="Upgrade the fusion model (typo fixed)")
    assert sent["starts_at"].endswith(":30")  # shown with its seconds, not truncated
    assert response.status_code == 302
    db.session.refresh(change)
    assert change.revision_number == 2 and change.revisions[-1].material is False
    assert change.starts_at == T0 + dt.timedelta(hours=96, seconds=30)


def test_the_editor_round_trips_the_first_of_two_0130s_in_new_york(story, login):
    story.ana.time_zone = "America/New_York"
    change = make_draft(story)
    first_0130 = dt.datetime.fromisoformat("2027-11-07T01:30:00-04:00")
    change.starts_at = first_0130
    change.ends_at = first_0130 + dt.timedelta(hours=3)
    db.session.commit()
    publish(change, story)
    client = as_user(login, story.ana)
    html = client.get(f"/changes/{change.id}/edit").get_data(as_text=True)
    assert prefilled(html, "starts_at") == "2027-11-07 01:30"
    response, _sent = resubmit(client, change, title="Retitled", time_zone="America/New_York")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.refresh(change)
    assert change.title == "Retitled"
    assert change.starts_at == first_0130 and change.revisions[-1].material is False
