"""The JSON API authenticates with Bearer tokens only: session cookies are ignored, and
expired, revoked or unknown tokens are refused on every route."""

import datetime as dt

from portal.auth.services import revoke_token
from portal.extensions import db
from tests.conftest import T0
from tests.security.conftest import PUBLIC_ENDPOINTS, bearer_for, fill, is_api, rules


def api_rules(app):
    for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
        for rule in rules(app, method):
            if is_api(rule) and rule.endpoint not in PUBLIC_ENDPOINTS:
                yield method, rule, fill(rule)


def refused_everywhere(app, client, headers) -> list[str]:
    failures = []
    for method, rule, path in api_rules(app):
        r = client.open(path, method=method, headers=headers, json={})
        if r.status_code != 401 or not r.is_json:
            failures.append(f"{method} {path} ({rule.endpoint}): {r.status_code}")
    return failures


def test_api_ignores_session_cookies(app, login, world):
    client = login(world.users["admin"])
    assert client.get("/tokens").status_code == 200  # the session is good for the web UI
    assert not refused_everywhere(app, client, {})


def test_a_revoked_token_is_refused_everywhere(app, client, world):
    user = world.users["admin"]
    headers = bearer_for(user)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    token_id = db.session.execute(db.text("SELECT max(id) FROM api_tokens")).scalar_one()
    revoke_token(user, token_id, now=T0)
    db.session.commit()
    assert not refused_everywhere(app, client, headers)


def test_an_expired_token_is_refused_everywhere(app, client, world, clock):
    headers = bearer_for(world.users["admin"], days=1)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    clock.advance(dt.timedelta(days=1, seconds=1))
    assert not refused_everywhere(app, client, headers)


def test_a_deactivated_users_token_is_refused(app, client, world):
    user = world.users["engineer"]
    headers = bearer_for(user)
    user.active = False
    db.session.commit()
    assert not refused_everywhere(app, client, headers)


def test_malformed_authorization_headers_are_refused(client, world):
    for value in ("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "fw_abc", "Bearer " + "x" * 5000):
        r = client.get("/api/v1/me", headers={"Authorization": value})
        assert r.status_code == 401, value
