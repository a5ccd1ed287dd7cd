"""The API is declared once (issue #17 item 2): the declaration validates input (a 400 naming
the field), serialises output and is the served OpenAPI document; time zones are geographic."""

import datetime as dt
import re

import pytest
from marshmallow import fields
from sqlalchemy import func, select

from portal.api.fields import Schema
from portal.changes.models import Change
from portal.extensions import db
from portal.timezones import format_in_zone, is_zone, zone_names
from tests.changes.conftest import bearer, change_body, story  # noqa: F401  (fixtures)
from tests.conftest import T0

METHODS = ("get", "post", "patch", "put", "delete")


def _count() -> int:
    return db.session.execute(select(func.count()).select_from(Change)).scalar_one()


def _field(response) -> str | None:
    assert response.status_code == 400, response.get_json()
    return response.get_json()["error"].get("field")


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", str(2**31), str(2**64)])
def test_page_must_be_a_page_number(client, story, bearer, page):  # noqa: F811
    response = client.get(f"/api/v1/changes?page={page}", headers=bearer(story.ana))
    assert _field(response) == "page"


@pytest.mark.parametrize("value", ["yes", "true", 1, "on"])
def test_booleans_are_json_booleans(client, story, bearer, value):  # noqa: F811
    headers = bearer(story.ana)
    created = client.post("/api/v1/changes", json=change_body(ack_required=value), headers=headers)
    assert _field(created) == "ack_required"
    assert _count() == 0
    started = client.post("/api/v1/changes/1/start", json={"only_open": value}, headers=headers)
    assert _field(started) == "only_open"


def test_json_true_is_a_boolean(client, story, bearer):  # noqa: F811
    response = client.post(
        "/api/v1/changes", json=change_body(ack_required=True), headers=bearer(story.ana)
    )
    assert response.status_code == 201 and response.get_json()["change"]["ack_required"] is True


@pytest.mark.parametrize(
    "zone", ["localtime", "Factory", "posixrules", "Etc/GMT+5", "Etc/UTC", "US/Eastern", "EST5EDT"]
)
def test_non_geographic_time_zones_are_refused(client, story, bearer, zone):  # noqa: F811
    body = change_body(time_zone=zone, starts_at="2026-11-06T09:00", ends_at="2026-11-06T10:00")
    response = client.post("/api/v1/changes", json=body, headers=bearer(story.ana))
    assert _field(response) == "time_zone"
    assert "unknown time zone" in response.get_json()["error"]["message"]
    assert _count() == 0


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC"])
def test_geographic_time_zones_are_accepted(client, story, bearer, zone):  # noqa: F811
    body = change_body(time_zone=zone, starts_at="2026-11-06T09:00", ends_at="2026-11-06T10:00")
    response = client.post("/api/v1/changes", json=body, headers=bearer(story.ana))
    assert response.status_code == 201, response.get_json()


def test_pickers_offer_geographic_zones_only():
    names = set(zone_names())
    assert {"UTC", "Europe/Berlin", "Asia/Tokyo", "America/Argentina/Buenos_Aires"} <= names
    refused = {"localtime", "Factory", "posixrules", "Etc/GMT+5", "US/Eastern", "GB", "EST5EDT"}
    assert not names & refused
    assert all(not is_zone(z) for z in refused)
    # A zone an older rule accepted, already stored as a setting, still displays.
    assert format_in_zone(T0, "US/Eastern", "%H:%M %Z") == T0.astimezone(
        dt.timezone(dt.timedelta(hours=-5))
    ).strftime("%H:%M UTC-5")


def test_an_unknown_field_is_named(client, story, bearer):  # noqa: F811
    body = change_body(ack_requierd=True)
    response = client.post("/api/v1/changes", json=body, headers=bearer(story.ana))
    assert _field(response) == "ack_requierd"
    assert _count() == 0


@pytest.mark.parametrize("change_id", ["0", str(2**31), str(2**63), "9" * 30])
@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_ids_outside_the_database_range_are_404(client, story, bearer, change_id, method):  # noqa: F811
    response = client.open(
        f"/api/v1/changes/{change_id}", method=method, json={}, headers=bearer(story.ana)
    )
    assert response.status_code == 404 and response.is_json


def _operations(doc):
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item, item[method]


def test_every_operation_declares_its_request_and_answers(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1") and doc["servers"] == [{"url": "/api/v1"}]
    operations = list(_operations(doc))
    assert len(operations) >= 24
    for name, item, op in operations:
        responses = op["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert success, name
        for code in success:
            assert "schema" in responses[code]["content"]["application/json"], (name, code)
        assert "401" in responses, name
        for code, answer in responses.items():
            if not code.startswith("2"):
                ref = answer["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (name, code)
        if "requestBody" in op:
            assert "schema" in op["requestBody"]["content"]["application/json"], name
        declared = {p["name"] for p in item.get("parameters", []) + op.get("parameters", [])}
        assert set(_path_names(name)) <= declared, name
        assert op.get("summary"), name


def _path_names(name: str) -> list[str]:
    return [part[1:-1] for part in name.split()[1].split("/") if part.startswith("{")]


def test_the_change_body_is_declared_with_its_types(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    create = schemas["ChangeCreate"]
    assert set(create["required"]) == {"title", "impact", "services", "starts_at", "ends_at"}
    assert create["properties"]["ack_required"]["type"] == ["boolean", "null"]
    assert create["additionalProperties"] is False
    assert schemas["Change"]["properties"]["published_at"]["type"] == ["string", "null"]


def test_a_response_key_the_schema_does_not_declare_fails_in_tests(app):
    class Small(Schema):
        id = fields.Integer()

    with app.app_context():
        assert Small().dump({"id": 1}) == {"id": 1}
        with pytest.raises(TypeError, match="does not declare"):
            Small().dump({"id": 1, "secret": "x"})


def test_every_api_route_is_in_the_document(app, client):
    """A route added under /api/v1 without declarations (old style) is caught here."""
    doc = client.get("/api/v1/openapi.json").get_json()
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api_spec.openapi_json":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (method, path) not in documented:
                missing.append(f"{method} {path} ({rule.endpoint})")
    assert not missing
