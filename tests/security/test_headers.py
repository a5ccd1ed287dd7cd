"""Security headers on every response (issue 17 item 5): a Content-Security-Policy without
inline scripts, no framing, nosniff, a Referrer-Policy, HSTS over HTTPS, and no-store on pages
that show a secret once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal.extensions import db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def assert_hardened(response):
    csp = response.headers["Content-Security-Policy"]
    directives = dict(
        (part.strip().split(" ", 1) + [""])[:2] for part in csp.split(";") if part.strip()
    )
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/login", 200),
        ("GET", "/static/forewarn.css", 200),
        ("GET", "/no/such/page", 404),
        ("GET", "/api/v1/changes", 401),
        ("GET", "/api/v1/openapi.json", 200),
        ("GET", "/public/changes", 200),
        ("GET", "/feeds/t/unknown/changes.rss", 404),
        ("DELETE", "/login", 405),
    ],
)
def test_every_response_carries_the_headers(client, method, path, status):
    with client.open(path, method=method) as response:
        assert response.status_code == status
        assert_hardened(response)


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://portal.test")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_hsts_behind_a_trusted_proxy(app_config):
    from portal import create_app
    from portal.extensions import dispose_engines

    app = create_app({**app_config, "TRUSTED_PROXY_COUNT": 1})
    r = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in r.headers
    with app.app_context():
        dispose_engines()


def test_templates_have_no_inline_scripts_or_event_handlers():
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if inline_script.search(path.read_text()) or handler.search(path.read_text())
    ]
    assert offenders == []


def test_a_page_showing_a_new_api_token_is_not_stored(login, make_user):
    client = login(make_user())
    listing = client.get("/tokens")
    assert "no-store" not in listing.headers.get("Cache-Control", "")
    shown = client.post("/tokens", data={"name": "pipeline"})
    assert shown.status_code == 200 and "fw_" in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"


def test_a_page_showing_new_feed_urls_is_not_stored(login, make_user, make_tenant):
    tenant = make_tenant()
    admin = make_user(tenant=tenant, is_tenant_admin=True)
    db.session.commit()
    shown = login(admin).post("/feeds/tokens", data={"name": "reader"})
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"


def test_a_view_s_own_stricter_policies_survive(client):
    from flask import Flask

    from portal.security import PortalTalisman

    app = Flask(__name__)
    PortalTalisman(app, force_https=False, content_security_policy={"default-src": "'self'"})

    @app.get("/own")
    def own():
        return "x", 200, {"Referrer-Policy": "no-referrer", "Content-Security-Policy": "sandbox"}

    r = app.test_client().get("/own")
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Content-Security-Policy"] == "default-src 'self'; sandbox"
