# ruff: noqa: F811  (the fixtures imported from tests.desk.conftest are arguments here)
"""Least disclosure (issue 17 item 7): an account manager sees other tenants only inside the
equal-notice report's aggregates, customers never learn how many tenants a change affected,
and API and feed tokens are capped and paginated."""

from __future__ import annotations

import datetime as dt

from flask import g

from portal.auth.services import issue_token
from portal.changes.serialise import customer_summary
from portal.changes.services import new_revision
from portal.extensions import db
from tests.conftest import T0
from tests.desk.conftest import admin_user, cheap_password_hashing, deliver, world  # noqa: F401

MIN = dt.timedelta(minutes=1)


def as_(login, user):
    """Sign in as ``user``: pytest-flask shares ``g`` (and Flask-Login's cached user) across a
    test's requests, so forget the previous one first."""
    g.pop("_login_user", None)
    return login(user)


def test_an_account_manager_sees_other_tenants_only_as_aggregates(
    client,
    login,
    world,
    admin_user,
):
    w = world
    deliver(w.change, w.ptu, T0 + 1 * MIN)  # first-party told first: the flag names names
    deliver(w.change, w.tapai, T0 + 2 * MIN)
    deliver(w.change, w.other, T0 + 5 * MIN)
    db.session.commit()
    url = f"/certificates/{w.change.id}/equal-notice"
    full = as_(login, admin_user).get(url + ".json").get_json()["revisions"][0]
    mine = as_(login, w.other_am).get(url + ".json").get_json()["revisions"][0]
    assert [t["tenant"] for t in mine["tenants"]] == ["other"]
    assert mine["other_tenants"] == len(full["tenants"]) - 1
    for group in ("first_party", "third_party"):
        assert mine[group] == full[group]  # the aggregates still cover everyone
    assert mine["first_party_told_earlier"] is True
    assert mine["example"]["first_party"]["tenant"] is None
    assert mine["example"]["third_party"]["tenant"] == "other"
    assert mine["undelivered_third_party"] == [] and mine["undelivered_third_party_count"] >= 1
    page = as_(login, w.other_am).get(url).get_data(as_text=True)
    for name in ("Tapai", "Ptu", "HYPERLINK", "Silent"):
        assert name not in page
    assert "Other Co" in page
    # Admins and the owning team still see every tenant by name.
    assert {t["tenant"] for t in full["tenants"]} >= {"tapai", "ptu", "other"}


def test_customers_never_see_how_many_tenants_a_revision_touched(client, login, world):
    w = world
    new_revision(
        w.change,
        "start",
        actor=w.engineer,
        now=T0 + MIN,
        summary="started for 3 tenant(s); 2 still waiting",
    )
    db.session.commit()
    _, secret = issue_token(w.tapai_user, "t", now=T0, days=None)
    db.session.commit()
    api = client.get(
        f"/api/v1/changes/{w.change.id}", headers={"Authorization": f"Bearer {secret}"}
    )
    summaries = [r["summary"] for r in api.get_json()["revisions"]]
    assert "started" in summaries and not any("tenant" in s for s in summaries)
    cert = as_(login, w.tapai_user).get(f"/certificates/{w.change.id}/tapai.json").get_json()
    assert not any("tenant(s)" in r["summary"] for r in cert["revisions"])
    assert customer_summary("affected set widened by 2 tenant(s); start moved earlier") == (
        "affected set widened; start moved earlier"
    )


def test_api_tokens_are_capped_per_user_and_paginated(app, login, world):
    app.config.update(API_TOKEN_MAX_PER_USER=2, TOKEN_PAGE_SIZE=2)
    client = login(world.engineer)
    assert client.post("/tokens", data={"name": "one"}).status_code == 200
    assert client.post("/tokens", data={"name": "two"}).status_code == 200
    third = client.post("/tokens", data={"name": "three"})
    assert third.status_code == 400 and "revoke one first" in third.get_data(as_text=True)
    page = client.get("/tokens").get_data(as_text=True)
    assert "page 1 of 1" not in page  # two tokens fit one page: no pager
    client.post("/tokens/1/revoke")
    assert client.post("/tokens", data={"name": "three"}).status_code == 200
    first = client.get("/tokens").get_data(as_text=True)
    assert "page 1 of 2" in first and "/tokens?page=2" in first
    second = client.get("/tokens?page=2").get_data(as_text=True)
    assert "page 2 of 2" in second and "one" in second  # the revoked one, last


def test_feed_tokens_are_capped_per_tenant_and_paginated(app, login, world):
    app.config.update(FEED_TOKEN_MAX_PER_TENANT=2, TOKEN_PAGE_SIZE=1)
    client = login(world.tapai_admin)
    assert client.post("/feeds/tokens", data={"name": "reader one"}).status_code == 200
    assert client.post("/feeds/tokens", data={"name": "reader two"}).status_code == 200
    third = client.post("/feeds/tokens", data={"name": "reader three"})
    assert third.status_code == 400 and "revoke one first" in third.get_data(as_text=True)
    listing = client.get("/feeds").get_data(as_text=True)
    assert "page 1 of 2" in listing and "/feeds?page=2" in listing
