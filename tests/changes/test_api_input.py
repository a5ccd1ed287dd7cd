"""Bad input to the changes API is a 400 naming the field and the reason, and changes nothing;
times need an explicit zone, daylight-saving gaps and overlaps are refused."""

import pytest
from sqlalchemy import func, select

from portal.changes.models import Change
from portal.extensions import db
from tests.changes.conftest import change_body, iso
from tests.changes.helpers import HOUR
from tests.conftest import T0


@pytest.fixture
def post(client, story, bearer):
    headers = bearer(story.ana)

    def _post(body, url="/api/v1/changes", **kw):
        return client.post(url, json=body, headers=headers, **kw)

    return _post


def _count():
    return db.session.execute(select(func.count()).select_from(Change)).scalar_one()


@pytest.mark.parametrize(
    "overrides, field, reason",
    [
        ({"title": ""}, "title", "title is required"),
        ({"title": 42}, "title", "title is required"),
        ({"title": "x" * 201}, "title", "longer than 200"),
        ({"body": ["not", "text"]}, "body", "Markdown text"),
        ({"impact": "apocalypse"}, "impact", "unknown impact level"),
        ({"services": ["no-such-service"]}, "services", "unknown service"),
        ({"services": ["face-fusion-api/mars"]}, "services", "no component"),
        ({"services": []}, "services", "at least one service"),
        ({"services": [7]}, "services", "slug"),
        ({"services": ["face-fusion-api", "blob-store"]}, "services", "different teams"),
        ({"starts_at": "2026-11-06T09:00:00"}, "starts_at", "no zone"),
        ({"starts_at": "next tuesday"}, "starts_at", "ISO-8601"),
        ({"starts_at": 1762419600}, "starts_at", "ISO-8601"),
        ({"starts_at": iso(T0 - HOUR)}, "starts_at", "in the past"),
        ({"ends_at": iso(T0 + 95 * HOUR)}, "ends_at", "after the start"),
        ({"ends_at": iso(T0 + 96 * HOUR)}, "ends_at", "after the start"),
        ({"visibility": "secret"}, "visibility", "visibility must be"),
        ({"ack_required": "maybe"}, "ack_required", "true or false"),
        (
            {
                "time_zone": "Mars/Olympus_Mons",
                "starts_at": "2026-11-06T09:00",
                "ends_at": "2026-11-06T10:00",
            },
            "time_zone",
            "unknown time zone",
        ),
        ({"time_zone": 3}, "time_zone", "IANA"),
    ],
)
def test_bad_field_is_400_with_field_and_reason(post, overrides, field, reason):
    response = post(change_body(**overrides))
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == field and reason in error["message"]
    assert _count() == 0


def test_bad_json_is_400(post, client, story, bearer):
    headers = {**bearer(story.ana), "Content-Type": "application/json"}
    broken = client.post("/api/v1/changes", data="{not json", headers=headers)
    assert broken.status_code == 400 and "JSON" in broken.get_json()["error"]["message"]
    array = post([1, 2])
    assert array.status_code == 400 and "JSON object" in array.get_json()["error"]["message"]
    form = client.post("/api/v1/changes", data={"title": "x"}, headers=bearer(story.ana))
    assert form.status_code == 400
    assert _count() == 0


def test_missing_fields_are_named(post):
    for missing in ("title", "impact", "starts_at", "ends_at", "services"):
        body = change_body()
        del body[missing]
        response = post(body)
        assert response.status_code == 400 and response.get_json()["error"]["field"] == missing


def test_bad_status_filter_is_400(client, story, bearer):
    response = client.get("/api/v1/changes?status=wip", headers=bearer(story.ana))
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "status"


def test_offset_and_zone_together_are_refused(post):
    response = post(change_body(time_zone="Europe/Berlin"))
    assert response.status_code == 400 and "not both" in response.get_json()["error"]["message"]


def test_wall_time_in_a_zone_is_stored_in_utc(post):
    response = post(
        change_body(
            time_zone="Asia/Tokyo", starts_at="2026-11-06T18:00", ends_at="2026-11-06T20:00"
        )
    )
    assert response.status_code == 201
    assert response.get_json()["change"]["starts_at"] == "2026-11-06T09:00:00+00:00"


def test_daylight_saving_change_in_the_zone(post, clock):
    # Europe/Berlin leaves summer time on 25 Oct 2026 and enters it on 28 Mar 2027.
    clock.set(T0.replace(year=2026, month=10, day=1))
    across = post(
        change_body(
            time_zone="Europe/Berlin", starts_at="2026-10-24T12:00", ends_at="2026-10-25T12:00"
        )
    )
    assert across.status_code == 201
    change = across.get_json()["change"]
    assert change["starts_at"] == "2026-10-24T10:00:00+00:00"  # CEST, UTC+2
    assert change["ends_at"] == "2026-10-25T11:00:00+00:00"  # CET, UTC+1: 25 h later
    gap = post(
        change_body(
            time_zone="Europe/Berlin", starts_at="2027-03-28T02:30", ends_at="2027-03-28T04:00"
        )
    )
    assert gap.status_code == 400 and "does not exist" in gap.get_json()["error"]["message"]
    overlap = post(
        change_body(
            time_zone="Europe/Berlin", starts_at="2026-10-25T02:30", ends_at="2026-10-25T04:00"
        )
    )
    assert overlap.status_code == 400 and "twice" in overlap.get_json()["error"]["message"]


def test_patch_with_bad_input_changes_nothing(post, client, story, bearer):
    created = post(change_body()).get_json()["change"]
    response = client.patch(
        f"/api/v1/changes/{created['id']}", json={"ends_at": iso(T0)}, headers=bearer(story.ana)
    )
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "ends_at"
    assert db.session.get(Change, created["id"]).ends_at.isoformat() == created["ends_at"]


def test_cancel_reason_must_be_text(post, client, story, bearer):
    created = post(change_body()).get_json()["change"]
    response = client.post(
        f"/api/v1/changes/{created['id']}/cancel", json={"reason": 3}, headers=bearer(story.ana)
    )
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "reason"
