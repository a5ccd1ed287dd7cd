"""Signing in and out: hashed passwords, safe redirects, rate limiting, CSRF."""

import pytest

from portal import create_app
from portal.auth.services import is_safe_next
from portal.extensions import db, dispose_engines, limiter
from tests.factories import PASSWORD


def test_password_is_stored_hashed(make_user):
    user = make_user("eng@provider.example")
    assert PASSWORD not in user.password_hash and user.check_password(PASSWORD)


def test_login_with_right_password_goes_home(client, make_user):
    make_user("eng@provider.example")
    db.session.commit()
    response = client.post("/login", data={"email": "ENG@provider.example", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_with_a_message(client, make_user):
    make_user("eng@provider.example")
    db.session.commit()
    response = client.post("/login", data={"email": "eng@provider.example", "password": "nope"})
    assert response.status_code == 400
    assert b"Wrong email or password." in response.data


def test_unknown_email_gets_the_same_message(client):
    response = client.post("/login", data={"email": "who@x.example", "password": "nope"})
    assert b"Wrong email or password." in response.data


def test_missing_fields_are_reported(client):
    response = client.post("/login", data={"email": ""})
    assert response.status_code == 400 and b"This field is required." in response.data


def test_deactivated_user_cannot_sign_in(client, make_user):
    user = make_user("gone@provider.example")
    user.active = False
    db.session.commit()
    response = client.post("/login", data={"email": "gone@provider.example", "password": PASSWORD})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "target,safe",
    [
        ("/tokens", True),
        ("/changes/1?x=1", True),
        ("https://evil.example/", False),
        ("//evil.example/", False),
        ("/\\evil.example", False),
        ("javascript:alert(1)", False),
        ("", False),
        (None, False),
    ],
)
def test_next_redirects_must_stay_on_site(target, safe):
    assert is_safe_next(target) is safe


def test_login_follows_safe_next_and_ignores_offsite_next(client, make_user):
    make_user("eng@provider.example")
    db.session.commit()
    data = {"email": "eng@provider.example", "password": PASSWORD}
    r = client.post("/login?next=/tokens", data=data)
    assert r.headers["Location"] == "/tokens"
    client.post("/logout")
    r = client.post("/login?next=https://evil.example/", data=data)
    assert r.headers["Location"] == "/"


def test_pages_need_login(client):
    response = client.get("/tokens")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_logout_is_a_post(login, make_user):
    client = login(make_user())
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert client.get("/tokens").status_code == 302


def test_login_is_rate_limited(app_config):
    limited = create_app({**app_config, "RATELIMIT_ENABLED": True})
    client = limited.test_client()
    codes = [
        client.post("/login", data={"email": "a@b.example", "password": "x"}).status_code
        for _ in range(12)
    ]
    limiter.reset()
    with limited.app_context():
        dispose_engines()
    assert codes[:10] == [400] * 10 and codes[-1] == 429


def test_forms_refuse_posts_without_csrf_token(app, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    make_user("eng@provider.example")
    db.session.commit()
    client = app.test_client()
    response = client.post("/login", data={"email": "eng@provider.example", "password": PASSWORD})
    assert response.status_code == 400 and b"CSRF" in response.data


def test_profile_time_zone_is_validated(login, make_user):
    user = make_user()
    client = login(user)
    bad = client.post("/profile", data={"name": "N", "time_zone": "Mars/Olympus"})
    assert bad.status_code == 200 and b"unknown time zone" in bad.data
    client.post("/profile", data={"name": "N", "time_zone": "Europe/Berlin"})
    db.session.refresh(user)
    assert user.time_zone == "Europe/Berlin"


def test_change_password_needs_the_current_one(login, make_user):
    user = make_user()
    client = login(user)
    r = client.post("/profile/password", data={"current": "wrong", "new": "a-new-long-password"})
    assert r.status_code == 400 and b"not your current password" in r.data
    client.post("/profile/password", data={"current": PASSWORD, "new": "a-new-long-password"})
    db.session.refresh(user)
    assert user.check_password("a-new-long-password")


def test_profile_post_without_fields_keeps_the_settings(login, make_user):
    user = make_user(name="Kept", time_zone=None)
    client = login(user)
    assert client.post("/profile", data={}).status_code == 302
    db.session.refresh(user)
    assert (user.name, user.time_zone) == ("Kept", None)
