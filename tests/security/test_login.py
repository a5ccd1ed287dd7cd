"""Signing in: rate limited per client address, and ``next`` never leaves the site."""

from pathlib import Path

import pytest

from portal import create_app
from portal.extensions import db, dispose_engines, limiter
from tests.factories import PASSWORD


@pytest.fixture
def limited_client(app_config, reset_limiter):
    limited = create_app(
        {**app_config, "RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute"}
    )
    yield limited.test_client()
    with limited.app_context():
        dispose_engines()


def test_login_attempts_are_rate_limited_even_with_the_right_password(limited_client, make_user):
    make_user("eng@provider.example")
    db.session.commit()
    wrong = {"email": "eng@provider.example", "password": "guess"}
    codes = [limited_client.post("/login", data=wrong).status_code for _ in range(3)]
    right = limited_client.post(
        "/login", data={"email": "eng@provider.example", "password": PASSWORD}
    )
    assert codes == [400, 400, 400] and right.status_code == 429
    # Another address is not held back by this one's attempts.
    other = limited_client.post("/login", data=wrong, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 400
    # Showing the form is not an attempt.
    assert limited_client.get("/login").status_code == 200
    limiter.reset()


def test_every_rate_limit_is_declared_with_rate_limited():
    """The limiter only looks at views marked by ``rate_limited``; a bare ``limiter.limit``
    would be skipped silently, so none may exist."""
    root = Path(__file__).resolve().parents[2] / "portal"
    bare = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "extensions.py" and "limiter.limit(" in path.read_text()
    ]
    assert bare == []


def test_views_without_a_limit_skip_the_limiter(limited_client, make_user):
    make_user("eng@provider.example")
    db.session.commit()
    limited = limited_client.application
    assert [
        name
        for name, view in limited.view_functions.items()
        if getattr(view, "rate_limited", False)
    ] == ["auth.login"]
    # Far more requests than the login limit allows, to a view without one: none refused.
    assert {limited_client.get("/public/changes").status_code for _ in range(15)} == {200}
    limiter.reset()


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "https:evil.example",
        " //evil.example",
        "%2F%2Fevil.example",
        "/%2F%2Fevil.example",
        "\t//evil.example",
    ],
)
def test_login_never_redirects_off_site(target, client, make_user):
    make_user("eng@provider.example")
    db.session.commit()
    r = client.post(
        "/login",
        query_string={"next": target},
        data={"email": "eng@provider.example", "password": PASSWORD},
    )
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "\\" not in location and "://" not in location


def test_login_follows_a_local_next(client, make_user):
    make_user("eng@provider.example")
    db.session.commit()
    r = client.post(
        "/login",
        query_string={"next": "/changes?page=2"},
        data={"email": "eng@provider.example", "password": PASSWORD},
    )
    assert r.headers["Location"] == "/changes?page=2"
