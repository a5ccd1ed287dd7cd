"""Sessions end when they should (issue 17 item 3): sign-out and a password change make captured
session and "keep me signed in" cookies worthless; the remember cookie is short-lived and
SameSite; a temporary password must be replaced at first sign-in.

pytest-flask's test context shares ``g`` across this test's requests, and Flask-Login caches
the signed-in user there: ``Fresh`` clients forget it before every request, so each request is
judged by its own cookies only."""

from __future__ import annotations

import datetime as dt

from flask import g
from flask.testing import FlaskClient

from portal.config import Defaults
from portal.extensions import db
from tests.factories import PASSWORD

EMAIL = "eng@provider.example"


class Fresh(FlaskClient):
    """A test client that never sees another request's cached user."""

    def open(self, *args, **kwargs):
        g.pop("_login_user", None)
        return super().open(*args, **kwargs)


def new_client(app) -> Fresh:
    return Fresh(app, app.response_class, use_cookies=True)


def sign_in(app, email=EMAIL, password=PASSWORD, remember=False):
    client = new_client(app)
    data = {"email": email, "password": password}
    if remember:
        data["remember"] = "y"
    r = client.post("/login", data=data)
    assert r.status_code == 302, r.status_code
    return client


def as_user(app, user) -> Fresh:
    client = new_client(app)
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    return client


def replay(app, client, *names):
    """A new client holding only copies of ``client``'s cookies ``names`` (a stolen cookie)."""
    thief = new_client(app)
    for name in names:
        cookie = client.get_cookie(name)
        assert cookie is not None, name
        thief.set_cookie(name, cookie.value)
    return thief


def signed_in(client) -> bool:
    return client.get("/profile").status_code == 200


def test_a_captured_session_cookie_dies_with_sign_out(app, make_user):
    make_user(EMAIL)
    db.session.commit()
    client = sign_in(app)
    stolen = replay(app, client, "session")
    assert signed_in(stolen)
    client.post("/logout")
    assert not signed_in(client) and not signed_in(stolen)


def test_a_captured_remember_cookie_dies_with_sign_out(app, make_user):
    make_user(EMAIL)
    db.session.commit()
    client = sign_in(app, remember=True)
    stolen = replay(app, client, "remember_token")
    assert signed_in(stolen)  # the remember cookie alone signs in …
    client.post("/logout")
    assert not signed_in(stolen)  # … no more
    fresh = new_client(app)
    fresh.set_cookie("remember_token", stolen.get_cookie("remember_token").value)
    assert not signed_in(fresh)


def test_a_password_change_ends_every_other_session(app, make_user):
    make_user(EMAIL)
    db.session.commit()
    mine = sign_in(app, remember=True)
    laptop = sign_in(app, remember=True)
    remembered = replay(app, laptop, "remember_token")
    r = mine.post(
        "/profile/password", data={"current": PASSWORD, "new": "violet tundra marble kettle"}
    )
    assert r.status_code == 302
    assert signed_in(mine)  # the session that changed it goes on
    assert not signed_in(laptop) and not signed_in(remembered)
    assert signed_in(sign_in(app, password="violet tundra marble kettle"))


def test_the_remember_cookie_lasts_at_most_30_days_and_is_samesite_lax(app, make_user):
    make_user(EMAIL)
    db.session.commit()
    client = new_client(app)
    r = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "remember": "y"})
    [header] = [h for h in r.headers.getlist("Set-Cookie") if h.startswith("remember_token=")]
    attributes = {p.split("=")[0].strip().lower(): p for p in header.split(";")}
    assert "samesite=lax" in header.lower() and "httponly" in attributes
    expires = client.get_cookie("remember_token").expires
    assert expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30, minutes=1)
    # Production defaults: Secure cookies (tests and the demo run on plain http).
    assert Defaults.REMEMBER_COOKIE_SECURE and Defaults.SESSION_COOKIE_SECURE
    assert Defaults.REMEMBER_COOKIE_DURATION <= 30 * 24 * 3600


def test_a_temporary_password_must_be_changed_at_first_sign_in(app, make_user, admin):
    user = make_user(EMAIL)
    db.session.commit()
    old_session = sign_in(app)
    r = as_user(app, admin).post(
        f"/admin/users/{user.id}/password", data={"password": "pale orbit fig lantern"}
    )
    assert r.status_code == 302
    assert not signed_in(old_session)  # a new temporary password ends the user's sessions
    client = sign_in(app, password="pale orbit fig lantern")
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"] == "/profile"
    assert client.get("/changes").headers["Location"] == "/profile"
    assert client.get("/profile").status_code == 200
    same = client.post(
        "/profile/password",
        data={"current": "pale orbit fig lantern", "new": "eng@provider.example-2026"},
    )
    assert same.status_code == 400 and b"e-mail address" in same.data
    done = client.post(
        "/profile/password",
        data={"current": "pale orbit fig lantern", "new": "quiet harbor mint 77"},
    )
    assert done.status_code == 302
    assert client.get("/").status_code == 200


def test_users_created_by_an_admin_start_with_a_temporary_password(app, admin):
    r = as_user(app, admin).post(
        "/admin/users/new",
        data={"email": "new@provider.example", "name": "New", "password": "pale orbit fig lantern"},
    )
    assert r.status_code == 302
    client = sign_in(app, "new@provider.example", "pale orbit fig lantern")
    assert client.get("/").headers["Location"] == "/profile"
