"""Who may see and do what in the changes API (401/403/404), the gate per tenant, and the
OpenAPI document."""

import pytest

from portal.changes import services
from portal.changes.models import Change
from portal.extensions import db
from tests.changes.conftest import change_body, iso
from tests.changes.helpers import HOUR, deliver, draft_input
from tests.conftest import T0


@pytest.fixture
def drafted(story):
    change = services.create_change(draft_input(story), author=story.ana, now=T0)
    db.session.commit()
    return change


@pytest.fixture
def published(story, drafted):
    services.publish(drafted, actor=story.ana, now=T0)
    db.session.commit()
    return drafted


def test_no_token_or_a_bad_token_is_401(client, drafted):
    assert client.get(f"/api/v1/changes/{drafted.id}").status_code == 401
    bad = client.get(
        f"/api/v1/changes/{drafted.id}/gate", headers={"Authorization": "Bearer fw_nope"}
    )
    assert bad.status_code == 401 and bad.get_json()["error"]["status"] == 401


def test_drafts_are_invisible_to_every_tenant_first_party_included(client, story, bearer, drafted):
    for user in (story.tapai_user, story.ptu_user, story.manager):
        headers = bearer(user)
        assert client.get(f"/api/v1/changes/{drafted.id}", headers=headers).status_code == 404
        assert client.get(f"/api/v1/changes/{drafted.id}/gate", headers=headers).status_code == 404
        assert client.get("/api/v1/changes", headers=headers).get_json()["changes"] == []


def test_customers_see_published_changes_of_their_own_tenant_only(client, story, bearer, published):
    tapai = bearer(story.tapai_user)
    read = client.get(f"/api/v1/changes/{published.id}", headers=tapai).get_json()
    assert read["change"]["status"] == "scheduled" and "author" not in read["change"]
    bystander = bearer(story.bystander_user)
    assert client.get(f"/api/v1/changes/{published.id}", headers=bystander).status_code == 404
    assert client.get("/api/v1/changes", headers=bystander).get_json()["changes"] == []


def test_customers_cannot_manage_changes(client, story, bearer, published):
    tapai = bearer(story.tapai_user)
    assert client.post("/api/v1/changes", json=change_body(), headers=tapai).status_code == 403
    for action in ("publish", "start", "complete", "cancel"):
        response = client.post(f"/api/v1/changes/{published.id}/{action}", headers=tapai)
        assert response.status_code == 403
    assert db.session.get(Change, published.id).status == "scheduled"


def test_engineer_of_another_team_gets_404_and_cannot_use_its_services(
    client, story, bearer, drafted
):
    cy = bearer(story.cy)
    assert client.get(f"/api/v1/changes/{drafted.id}", headers=cy).status_code == 404
    assert client.post(f"/api/v1/changes/{drafted.id}/publish", headers=cy).status_code == 404
    assert (
        client.patch(f"/api/v1/changes/{drafted.id}", json={"title": "x"}, headers=cy).status_code
        == 404
    )
    refused = client.post("/api/v1/changes", json=change_body(), headers=cy)
    assert refused.status_code == 400 and refused.get_json()["error"]["field"] == "services"
    assert db.session.get(Change, drafted.id).status == "draft"


def test_unknown_change_is_404_json(client, story, bearer):
    response = client.get("/api/v1/changes/999999/gate", headers=bearer(story.ana))
    assert response.status_code == 404 and response.get_json()["error"]["status"] == 404


def test_gate_for_one_tenant_by_slug(client, story, bearer, published, clock):
    ana = bearer(story.ana)
    deliver(published, T0 + 30 * HOUR)  # Tapai's window then ends at T0 + 102 h
    clock.set(T0 + 96 * HOUR)
    tapai = client.get(f"/api/v1/changes/{published.id}/gate?tenant=tapai", headers=ana)
    body = tapai.get_json()
    assert body["open"] is False and [t["tenant"] for t in body["tenants"]] == ["tapai"]
    assert body["tenants"][0]["reason"] == "notice window still running"
    assert body["tenants"][0]["opens_at"] == iso(T0 + 102 * HOUR)
    ptu = client.get(f"/api/v1/changes/{published.id}/gate?tenant=ptu", headers=ana).get_json()
    assert ptu["open"] is True and ptu["opens_at"] == iso(T0 + 96 * HOUR)
    everyone = client.get(f"/api/v1/changes/{published.id}/gate", headers=ana).get_json()
    assert everyone["open"] is False and everyone["opens_at"] == iso(T0 + 102 * HOUR)
    assert everyone["open_tenants"] == 1 and everyone["shut_tenants"] == 1
    unaffected = client.get(f"/api/v1/changes/{published.id}/gate?tenant=bystander", headers=ana)
    assert unaffected.status_code == 404
    unknown = client.get(f"/api/v1/changes/{published.id}/gate?tenant=nobody", headers=ana)
    assert unknown.status_code == 404


def test_customer_gate_shows_only_their_own_tenant(client, story, bearer, published):
    tapai = bearer(story.tapai_user)
    body = client.get(f"/api/v1/changes/{published.id}/gate", headers=tapai).get_json()
    assert [t["tenant"] for t in body["tenants"]] == ["tapai"]
    other = client.get(f"/api/v1/changes/{published.id}/gate?tenant=ptu", headers=tapai)
    assert other.status_code == 404


def test_account_manager_gate_shows_only_the_tenants_they_look_after(
    client, story, bearer, published
):
    body = client.get(
        f"/api/v1/changes/{published.id}/gate", headers=bearer(story.manager)
    ).get_json()
    assert [t["tenant"] for t in body["tenants"]] == ["ptu"]


def test_gate_stays_shut_forever_without_delivery(client, story, bearer, published, clock):
    clock.set(T0 + 400 * 24 * HOUR)
    body = client.get(f"/api/v1/changes/{published.id}/gate", headers=bearer(story.ana)).get_json()
    assert body["open"] is False and body["opens_at"] is None


def test_waiver_opens_that_tenants_gate_at_the_start(client, story, bearer, published, clock):
    from tests.changes.helpers import rows

    rows(published)[story.tapai.id].waived_at = T0 + HOUR
    db.session.commit()
    url = f"/api/v1/changes/{published.id}/gate?tenant=tapai"
    clock.set(T0 + 95 * HOUR)
    before = client.get(url, headers=bearer(story.ana)).get_json()
    assert before["open"] is False and "waived" in before["tenants"][0]["reason"]
    assert before["opens_at"] == iso(T0 + 96 * HOUR)
    clock.set(T0 + 96 * HOUR)
    assert client.get(url, headers=bearer(story.ana)).get_json()["open"] is True
    ptu = client.get(
        f"/api/v1/changes/{published.id}/gate?tenant=ptu", headers=bearer(story.ana)
    ).get_json()
    assert ptu["open"] is False  # Ptu did not waive and was never delivered to


def test_openapi_lists_the_changes_paths(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path in (
        "/changes",
        "/changes/{change_id}",
        "/changes/{change_id}/publish",
        "/changes/{change_id}/start",
        "/changes/{change_id}/complete",
        "/changes/{change_id}/cancel",
        "/changes/{change_id}/emergency",
        "/changes/{change_id}/emergency/approve",
        "/changes/{change_id}/emergency/reject",
        "/changes/{change_id}/gate",
        "/changes/preview",
    ):
        assert path in doc["paths"], path
    assert "409" in doc["paths"]["/changes/{change_id}/publish"]["post"]["responses"]
    # change_id is declared once for the path, the query parameters per operation
    gate = doc["paths"]["/changes/{change_id}/gate"]
    assert [p["name"] for p in gate["parameters"]] == ["change_id"]
    assert [(p["name"], p["in"]) for p in gate["get"]["parameters"]] == [("tenant", "query")]
