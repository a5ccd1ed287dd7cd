"""The customer's feed settings page: tokens issued once, rotated, revoked; scoped to the tenant."""

from __future__ import annotations

import re

from flask import g
from sqlalchemy import select

from portal.extensions import db
from portal.feeds.models import FeedToken
from tests.conftest import T0
from tests.feeds.conftest import feed_url


def switch(login, user):
    g.pop("_login_user", None)  # Flask-Login caches the user in the test context's g
    return login(user)


def _secret_of(page: str) -> str:
    [secret] = set(re.findall(r"/feeds/t/([A-Za-z0-9_-]{32})/changes\.", page))
    return secret


def test_tenant_admin_issues_a_token_and_sees_its_urls_once(world, login, make_user):
    admin = make_user(tenant=world.tapai, is_tenant_admin=True)
    client = login(admin)
    page = client.post("/feeds/tokens", data={"name": "Ops calendar"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    secret = _secret_of(html)
    for fmt in ("rss", "atom", "ics"):
        assert f'data-copy="#feed-url-{fmt}"' in html
        assert f"http://portal.test/feeds/t/{secret}/changes.{fmt}" in html
    assert "forewarn.js" in html
    assert client.get(feed_url(secret, "rss")).status_code == 200
    again = client.get("/feeds").get_data(as_text=True)
    assert secret not in again and "Ops calendar" in again and secret[:6] in again


def test_rotate_replaces_the_secret_and_revoke_locks_it_out(world, login, make_user):
    admin = make_user(tenant=world.tapai, is_tenant_admin=True)
    client = login(admin)
    old = _secret_of(client.post("/feeds/tokens", data={"name": "Slack"}).get_data(as_text=True))
    token_id = db.session.execute(select(FeedToken.id)).scalar_one()
    rotated = client.post(f"/feeds/tokens/{token_id}/rotate")
    assert rotated.status_code == 200
    new = _secret_of(rotated.get_data(as_text=True))
    assert new != old
    assert client.get(feed_url(old, "atom")).status_code == 404
    assert client.get(feed_url(new, "atom")).status_code == 200
    new_id = db.session.execute(
        select(FeedToken.id).where(FeedToken.revoked_at.is_(None))
    ).scalar_one()
    assert client.post(f"/feeds/tokens/{new_id}/revoke").status_code == 302
    assert client.get(feed_url(new, "atom")).status_code == 404
    assert client.post(f"/feeds/tokens/{new_id}/rotate").status_code == 302  # told, not 500


def test_empty_or_overlong_names_are_form_messages(world, login, make_user):
    client = login(make_user(tenant=world.tapai, is_tenant_admin=True))
    assert client.post("/feeds/tokens", data={"name": ""}).status_code == 400
    assert client.post("/feeds/tokens", data={"name": "x" * 500}).status_code == 400
    assert db.session.execute(select(FeedToken)).first() is None


def test_other_tenants_tokens_are_404_and_plain_users_cannot_manage(world, login, make_user):
    token, secret = world.token(world.other)
    tapai_admin = make_user(tenant=world.tapai, is_tenant_admin=True)
    tapai_user = make_user(tenant=world.tapai)
    db.session.commit()
    client = login(tapai_admin)
    assert client.post(f"/feeds/tokens/{token.id}/revoke").status_code == 404
    assert client.post(f"/feeds/tokens/{token.id}/rotate").status_code == 404
    assert client.post("/feeds/tokens/999999/revoke").status_code == 404
    assert "Ops reader" not in client.get("/feeds").get_data(as_text=True)
    plain = switch(login, tapai_user)
    page = plain.get("/feeds")
    assert page.status_code == 200 and "Ask a tenant admin" in page.get_data(as_text=True)
    assert plain.post("/feeds/tokens", data={"name": "Mine"}).status_code == 403
    assert db.session.get(FeedToken, token.id).revoked_at is None
    assert client.get(feed_url(secret, "rss")).status_code == 200


def test_staff_are_sent_to_the_upstream_screen_and_anonymous_to_login(
    world, client, login, make_user
):
    assert client.get("/feeds").status_code == 302
    assert "/login" in client.get("/feeds").headers["Location"]
    engineer = switch(login, world.engineer)
    assert engineer.get("/feeds").headers["Location"].endswith("/feeds/upstream")
    am = switch(login, make_user(is_account_manager=True))
    assert am.get("/feeds").status_code == 404


def test_token_actions_need_csrf(world, app, login, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    admin = make_user(tenant=world.tapai, is_tenant_admin=True)
    token, _ = world.token()
    client = login(admin)
    assert client.post("/feeds/tokens", data={"name": "x"}).status_code == 400
    assert client.post(f"/feeds/tokens/{token.id}/revoke").status_code == 400
    assert db.session.get(FeedToken, token.id).revoked_at is None
    assert T0
