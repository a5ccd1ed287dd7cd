"""The desk's JSON API and CSV export, and the constant number of SQL statements per page."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from portal.acks.models import CHANNEL_PORTAL
from portal.acks.services import acknowledge
from portal.auth.services import issue_token
from portal.changes.services import publish
from portal.extensions import db
from tests.conftest import T0
from tests.desk.conftest import deliver, fail
from tests.statements import count_statements


def bearer(user):
    _, secret = issue_token(user, "desk test", now=T0, days=30)
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_api_matrix_scoped_to_my_tenants(client, world):
    deliver(world.change, world.tapai, T0 + dt.timedelta(minutes=1))
    db.session.commit()
    r = client.get(f"/api/v1/desk/changes/{world.change.id}/matrix", headers=bearer(world.am))
    assert r.status_code == 200
    data = r.get_json()
    slugs = {t["tenant"] for t in data["tenants"]}
    assert slugs == {"tapai", "ptu", "silent", "evil"}
    tapai = next(t for t in data["tenants"] if t["tenant"] == "tapai")
    assert tapai["notice"]["state"] == "delivered"
    assert tapai["notice"]["smtp_reply"].startswith("250 2.0.0")
    assert tapai["gate"]["opens_at"] == world.change.starts_at.isoformat()
    silent = next(t for t in data["tenants"] if t["tenant"] == "silent")
    assert silent["notice"]["state"] == "no_contact" and not silent["gate"]["open"]
    assert data["summary"]["tenants"] == 4 and data["summary"]["delivered"] == 1


def test_api_filter_search_and_pages(client, world):
    acknowledge(world.change, world.tapai.id, now=T0, channel=CHANNEL_PORTAL, user=world.tapai_user)
    db.session.commit()
    h = bearer(world.am)
    url = f"/api/v1/desk/changes/{world.change.id}/matrix"
    data = client.get(url + "?filter=not_acknowledged", headers=h).get_json()
    assert "tapai" not in {t["tenant"] for t in data["tenants"]} and data["total"] == 3
    data = client.get(url + "?q=pt", headers=h).get_json()
    assert [t["tenant"] for t in data["tenants"]] == ["ptu"]
    data = client.get(url + "?per_page=1&page=2", headers=h).get_json()
    assert data["pages"] == 4 and data["page"] == 2 and len(data["tenants"]) == 1


@pytest.mark.parametrize(
    "query,field",
    [
        ("page=x", "page"),
        ("page=0", "page"),
        ("per_page=500", "per_page"),
        ("filter=nope", "filter"),
    ],
)
def test_api_bad_parameters_are_400(client, world, query, field):
    r = client.get(
        f"/api/v1/desk/changes/{world.change.id}/matrix?{query}", headers=bearer(world.am)
    )
    assert r.status_code == 400
    assert r.get_json()["error"]["field"] == field


def test_api_roles_and_scoping(client, world):
    assert client.get("/api/v1/desk/tenants").status_code == 401
    assert client.get("/api/v1/desk/tenants", headers=bearer(world.tapai_user)).status_code == 403
    assert client.get("/api/v1/desk/tenants", headers=bearer(world.engineer)).status_code == 403
    h = bearer(world.other_am)
    assert [
        t["slug"] for t in client.get("/api/v1/desk/tenants", headers=h).get_json()["tenants"]
    ] == ["other"]
    assert client.get("/api/v1/desk/tenants/tapai/history", headers=h).status_code == 404
    history = client.get("/api/v1/desk/tenants/other/history", headers=h).get_json()
    assert history["changes"][0]["title"] == "Upgrade the fusion model"
    data = client.get(f"/api/v1/desk/changes/{world.change.id}/matrix", headers=h).get_json()
    assert [t["tenant"] for t in data["tenants"]] == ["other"]
    changes = client.get("/api/v1/desk/changes", headers=h).get_json()["changes"]
    assert changes[0]["my_tenants"] == 1


def test_api_is_described_in_openapi(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/desk/changes/{change_id}/matrix" in paths
    assert "/changes/{change_id}/certificates/{tenant}" in paths


def test_csv_export_neutralises_formulas(client, login, world):
    fail(world.change, world.evil, error="-cmd|' /C calc'!A0")
    db.session.commit()
    r = login(world.am).get(f"/desk/changes/{world.change.id}/matrix.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows[0][0] == "tenant"
    evil = next(row for row in rows if row[0] == "evil")
    assert evil[1].startswith("'=HYPERLINK")
    # The reason is the gate's words (portal.notify.status.notice_state), the answer inside.
    assert evil[6] == "notice failed: ops1@evil.example: -cmd|' /C calc'!A0"
    assert evil[9] == evil[6]  # the gate says the same
    assert len(rows) == 5  # header + Amy's four tenants


def test_csv_export_respects_filter(client, login, world):
    deliver(world.change, world.tapai, T0)
    db.session.commit()
    r = login(world.am).get(f"/desk/changes/{world.change.id}/matrix.csv?filter=not_delivered")
    slugs = [row[0] for row in csv.reader(io.StringIO(r.get_data(as_text=True)))][1:]
    assert sorted(slugs) == ["evil", "ptu", "silent"]


def test_csv_refused_to_others(client, login, world):
    assert (
        login(world.tapai_user).get(f"/desk/changes/{world.change.id}/matrix.csv").status_code
        == 403
    )


def _count_statements(fn) -> int:
    """Statements one request runs, which must answer 200."""
    n, response = count_statements(fn)
    assert response.status_code == 200
    return n


def _change_with_tenants(n, make_tenant, make_service, make_usage, make_change, engineer, team):
    service = make_service(team)
    tenants = [make_tenant() for _ in range(n)]
    for t in tenants:
        make_usage(t, service)
    change = make_change(services=[service], author=engineer, starts_at=T0 + dt.timedelta(days=10))
    publish(change, actor=engineer, now=T0)
    for i, t in enumerate(tenants):
        if i % 2 == 0:
            deliver(change, t, T0 + dt.timedelta(seconds=i))
    db.session.commit()
    return change


def test_matrix_costs_the_same_sql_for_3_and_30_tenants(
    client,
    login,
    make_user,
    make_team,
    make_tenant,
    make_service,
    make_usage,
    make_change,
    admin_user,
):
    team = make_team()
    engineer = make_user(teams=[team])
    small = _change_with_tenants(
        3, make_tenant, make_service, make_usage, make_change, engineer, team
    )
    large = _change_with_tenants(
        30, make_tenant, make_service, make_usage, make_change, engineer, team
    )
    h = bearer(admin_user)
    c = login(admin_user)
    # Warm up: the first use of a token records when it was used.
    client.get("/api/v1/desk/tenants", headers=h)
    counts = {}
    for name, change_id in (("small", small.id), ("large", large.id)):
        counts[name, "page"] = _count_statements(
            lambda cid=change_id: c.get(f"/desk/changes/{cid}")
        )
        counts[name, "api"] = _count_statements(
            lambda cid=change_id: client.get(f"/api/v1/desk/changes/{cid}/matrix", headers=h)
        )
    assert counts["small", "page"] == counts["large", "page"]
    assert counts["small", "api"] == counts["large", "api"]
    assert counts["large", "page"] <= 15
