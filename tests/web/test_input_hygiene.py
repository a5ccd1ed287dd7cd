"""NUL characters: refused in submitted forms, query strings and JSON (PostgreSQL cannot store
them). More cases in tests/security/test_input_bounds.py."""

import datetime as dt

from sqlalchemy import func, select

from portal.auth.services import issue_token
from portal.extensions import db
from portal.tenants.models import Tenant


def test_nul_in_a_form_is_a_400_and_changes_nothing(login, admin):
    r = login(admin).post(
        "/admin/tenants/new", data={"slug": "x", "name": "Evil\x00", "time_zone": "UTC"}
    )
    assert r.status_code == 400 and b"NUL character" in r.data
    assert db.session.execute(select(func.count()).select_from(Tenant)).scalar_one() == 0


def test_nul_in_an_admin_search_is_a_400(login, admin, make_tenant):
    make_tenant("tapai", "Tapai")
    db.session.commit()
    client = login(admin)
    r = client.get("/admin/tenants", query_string={"q": "ta\x00pai"})
    assert r.status_code == 400 and b"control character" in r.data
    assert client.get("/admin/users", query_string={"q": "\x00"}).status_code == 400


def test_nul_in_json_is_a_json_400(client, admin):
    _, secret = issue_token(admin, "t", now=dt.datetime(2026, 11, 2, tzinfo=dt.UTC), days=1)
    db.session.commit()
    r = client.post(
        "/api/v1/changes",
        json={"title": ["ok", {"k": "a\x00"}]},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert r.status_code == 400 and "NUL" in r.get_json()["error"]["message"]


def test_ordinary_input_passes(login, admin):
    r = login(admin).post(
        "/admin/tenants/new", data={"slug": "zurich", "name": "Zürich AG", "time_zone": "UTC"}
    )
    assert r.status_code == 302
