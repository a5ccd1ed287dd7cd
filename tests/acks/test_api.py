"""The acks JSON API: acknowledge (idempotent), object and waive, with JSON errors
400/403/404/409 that change nothing."""

import datetime as dt

import pytest
from sqlalchemy import select

from portal.acks.models import Acknowledgement, Waiver
from portal.auth.services import issue_token
from portal.changes.models import ChangeTenant
from portal.extensions import db
from portal.notify.models import OutboxMessage
from tests.acks.conftest import db_state, revise_materially
from tests.conftest import T0


@pytest.fixture
def api(client, story):
    """``api(user).post(path, json=...)`` with that user's Bearer token. Tokens for the whole
    cast are issued up front (issuing is ledgered), so refusals can compare the database."""

    class Caller:
        def __init__(self, user):
            _, secret = issue_token(user, "test", now=T0, days=30)
            db.session.commit()
            self.headers = {"Authorization": f"Bearer {secret}"}

        def post(self, path, **kw):
            return client.post(f"/api/v1{path}", headers=self.headers, **kw)

    cast = {
        u.id: Caller(u)
        for u in (
            story.tapai_user,
            story.tapai_admin,
            story.other_user,
            story.am,
            story.other_am,
            story.engineer,
        )
    }
    return lambda user: cast[user.id]


def _ack_path(story):
    return f"/changes/{story.change.id}/acknowledge"


def _refused(response, status, text, before):
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["status"] == status and text in error["message"]
    assert db_state() == before


def test_customer_acknowledges_through_the_api_and_a_repeat_changes_nothing(api, story):
    caller = api(story.tapai_user)
    first = caller.post(_ack_path(story))
    assert first.status_code == 201
    body = first.get_json()
    assert body["result"] == "counted"
    assert body["acknowledgement"] | {} == {
        "id": 1,
        "change_id": story.change.id,
        "tenant": "tapai",
        "revision": 1,
        "counts": True,
        "channel": "api",
        "by": "Tom Tapai <tom@tapai.example>",
        "at": T0.isoformat(),
        "ledger_seq": body["acknowledgement"]["ledger_seq"],
    }
    before = db_state()
    again = caller.post(_ack_path(story), json={"revision": 1})
    assert again.status_code == 200 and again.get_json()["result"] == "replay"
    assert db_state() == before


def test_second_user_of_the_tenant_is_recorded_as_seen(api, story):
    api(story.tapai_user).post(_ack_path(story))
    second = api(story.tapai_admin).post(_ack_path(story))
    assert second.status_code == 201 and second.get_json()["result"] == "seen"
    assert second.get_json()["acknowledgement"]["counts"] is False


def test_acknowledging_a_change_of_another_tenant_is_404(api, story):
    before = db_state()
    _refused(api(story.other_user).post(_ack_path(story)), 404, "no such change", before)
    _refused(api(story.tapai_user).post("/changes/99999/acknowledge"), 404, "", before)


def test_staff_cannot_acknowledge_for_a_tenant(api, story):
    before = db_state()
    _refused(api(story.am).post(_ack_path(story)), 403, "only customer users", before)
    _refused(api(story.engineer).post(_ack_path(story)), 403, "only customer users", before)


def test_acknowledging_a_superseded_revision_is_409(api, story):
    revise_materially(story.change, at=T0 + dt.timedelta(hours=1))
    db.session.commit()
    before = db_state()
    response = api(story.tapai_user).post(_ack_path(story), json={"revision": 1})
    _refused(response, 409, "materially revised since revision 1", before)
    assert response.get_json()["error"]["current_revision"] == 2
    assert api(story.tapai_user).post(_ack_path(story), json={"revision": 2}).status_code == 201


@pytest.mark.parametrize(
    "body", [{"revision": "one"}, {"revision": 0}, {"revision": 5}, {"revision": True}, [1, 2]]
)
def test_bad_revision_or_body_is_400(api, story, body):
    before = db_state()
    _refused(api(story.tapai_user).post(_ack_path(story), json=body), 400, "", before)


def test_non_json_body_is_400(api, story):
    before = db_state()
    response = api(story.tapai_user).post(
        _ack_path(story), data="revision=1", content_type="application/x-www-form-urlencoded"
    )
    _refused(response, 400, "JSON", before)


def test_acknowledging_a_cancelled_change_is_409(api, story):
    story.change.status = "cancelled"
    db.session.commit()
    before = db_state()
    _refused(api(story.tapai_user).post(_ack_path(story)), 409, "cancelled", before)


def test_without_a_token_is_401(client, story):
    before = db_state()
    response = client.post(f"/api/v1/changes/{story.change.id}/acknowledge")
    assert response.status_code == 401 and db_state() == before


def test_objection_through_the_api_notifies_team_and_account_manager(api, story):
    response = api(story.tapai_user).post(
        f"/changes/{story.change.id}/objections", json={"reason": "Our launch is that week"}
    )
    assert response.status_code == 201
    assert response.get_json()["objection"]["reason"] == "Our launch is that week"
    rows = db.session.execute(
        select(OutboxMessage.recipient, OutboxMessage.kind)
        .where(OutboxMessage.kind == "objection")
        .order_by(OutboxMessage.recipient)
    ).all()
    assert [r.recipient for r in rows] == ["am@provider.example", "eng@provider.example"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"reason": "  "}, "reason"),
        ({}, "reason"),
        ({"reason": 42}, "reason"),
        ({"reason": "x" * 4001}, "reason"),
    ],
)
def test_objection_with_a_bad_reason_is_400(api, story, body, field):
    before = db_state()
    response = api(story.tapai_user).post(f"/changes/{story.change.id}/objections", json=body)
    _refused(response, 400, "", before)
    assert response.get_json()["error"]["field"] == field


def test_objection_refusals_by_role_and_tenant(api, story):
    path = f"/changes/{story.change.id}/objections"
    before = db_state()
    _refused(api(story.other_user).post(path, json={"reason": "no"}), 404, "", before)
    _refused(api(story.engineer).post(path, json={"reason": "no"}), 403, "", before)


def test_tenant_admin_waives_through_the_api_once(api, story):
    path = f"/changes/{story.change.id}/waiver"
    response = api(story.tapai_admin).post(path, json={"note": "go ahead"})
    assert response.status_code == 201
    waiver = response.get_json()["waiver"]
    assert (waiver["tenant"], waiver["agreed_by"], waiver["channel"]) == (
        "tapai",
        "Ann Admin <ann@tapai.example>",
        "api",
    )
    before = db_state()
    _refused(api(story.tapai_admin).post(path, json={}), 409, "already waived", before)


def test_waiver_by_a_customer_who_is_not_a_tenant_admin_is_403(api, story):
    before = db_state()
    _refused(
        api(story.tapai_user).post(f"/changes/{story.change.id}/waiver", json={}),
        403,
        "only a tenant admin",
        before,
    )


def test_account_manager_records_an_offline_waiver_through_the_api(api, story):
    response = api(story.am).post(
        f"/changes/{story.change.id}/waiver",
        json={"tenant": "tapai", "agreed_by": "Ann Admin, phone call", "note": "fine by them"},
    )
    assert response.status_code == 201
    assert response.get_json()["waiver"]["channel"] == "offline"
    ct = db.session.execute(
        select(ChangeTenant).filter_by(change_id=story.change.id, tenant_id=story.tapai.id)
    ).scalar_one()
    assert ct.waived_at == T0


def test_account_manager_waiver_refusals(api, story):
    path = f"/changes/{story.change.id}/waiver"
    before = db_state()
    # Ptu is affected but not assigned to this account manager: not theirs to see.
    _refused(api(story.am).post(path, json={"tenant": "ptu", "agreed_by": "Pat"}), 404, "", before)
    _refused(api(story.am).post(path, json={"tenant": "tapai"}), 400, "agreed_by", before)
    _refused(
        api(story.am).post(path, json={"tenant": "tapai", "agreed_by": "x" * 301}),
        400,
        "too long",
        before,
    )
    # An account manager of an unaffected tenant does not see the change at all.
    _refused(
        api(story.other_am).post(path, json={"tenant": "other", "agreed_by": "O"}), 404, "", before
    )
    _refused(
        api(story.engineer).post(path, json={"tenant": "tapai", "agreed_by": "T"}), 403, "", before
    )
    assert db.session.execute(select(Waiver)).first() is None
    assert db.session.execute(select(Acknowledgement)).first() is None


def test_openapi_document_describes_the_acks_paths(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/changes/{change_id}/acknowledge",
        "/changes/{change_id}/objections",
        "/changes/{change_id}/waiver",
    ):
        assert {"400", "403", "404", "409"} <= set(paths[path]["post"]["responses"])
