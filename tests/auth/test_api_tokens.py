"""Personal API tokens: unguessable, stored hashed, shown once, expiring and revocable."""

import datetime as dt

from sqlalchemy import select

from portal.auth.models import ApiToken
from portal.auth.services import hash_token, issue_token
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from tests.conftest import T0


def _issue(user, days=30):
    token, secret = issue_token(user, "pipeline", now=T0, days=days)
    db.session.commit()
    return token, secret


def test_token_is_random_and_stored_only_as_a_hash(make_user):
    user = make_user()
    token, secret = _issue(user)
    _, other = _issue(user)
    assert secret != other and len(secret) >= 43
    assert token.token_hash == hash_token(secret) and secret not in token.token_hash


def test_api_accepts_a_valid_bearer_token(client, make_user):
    user = make_user("ci@provider.example")
    _, secret = _issue(user)
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200 and response.get_json()["email"] == "ci@provider.example"


def test_api_without_token_is_401_json(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert "Bearer" in response.get_json()["error"]["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_api_ignores_session_cookies(login, make_user):
    client = login(make_user())
    assert client.get("/api/v1/me").status_code == 401


def test_wrong_token_is_401(client):
    r = client.get("/api/v1/me", headers={"Authorization": "Bearer fw_not-a-real-token"})
    assert r.status_code == 401


def test_expired_token_is_401(client, make_user, clock):
    _, secret = _issue(make_user(), days=1)
    clock.advance(days=2)
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401 and "expired" in r.get_json()["error"]["message"]


def test_revoked_token_is_401_and_revocation_is_ledgered(login, make_user):
    user = make_user()
    token, secret = _issue(user)
    client = login(user)
    client.post(f"/tokens/{token.id}/revoke")
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401
    actions = db.session.execute(select(LedgerEntry.action)).scalars().all()
    assert actions == ["api_token.issued", "api_token.revoked"]


def test_cannot_revoke_someone_elses_token(login, make_user):
    owner, other = make_user(), make_user()
    token, secret = _issue(owner)
    r = login(other).post(f"/tokens/{token.id}/revoke")
    assert r.status_code == 404
    assert db.session.get(ApiToken, token.id).revoked_at is None


def test_token_page_shows_the_secret_once(login, make_user):
    user = make_user()
    client = login(user)
    created = client.post("/tokens", data={"name": "deploy", "days": 30})
    token = db.session.execute(select(ApiToken)).scalar_one()
    secret_start = token.prefix
    assert secret_start.encode() in created.data and b"shown only once" in created.data
    again = client.get("/tokens")
    assert b"shown only once" not in again.data


def test_token_needs_a_name(login, make_user):
    r = login(make_user()).post("/tokens", data={"name": "", "days": 30})
    assert r.status_code == 400 and db.session.execute(select(ApiToken)).first() is None


def test_deactivated_users_tokens_stop_working(client, make_user):
    user = make_user()
    _, secret = _issue(user)
    user.active = False
    db.session.commit()
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401


def test_last_used_is_recorded(client, make_user, clock):
    user = make_user()
    token, secret = _issue(user)
    client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    db.session.refresh(token)
    assert token.last_used_at == T0
    assert token.expires_at == T0 + dt.timedelta(days=30)
