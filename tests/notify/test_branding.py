"""The provider's brand heads its notices (issue 15 item 2): configured name, logo and accent
colour; bad settings stop the start naming the setting; the demo is a believable provider."""

from __future__ import annotations

import pytest

from portal import ConfigurationError, create_app
from portal.branding import brand_of, readable_on


def test_the_brand_comes_from_the_settings_with_sensible_fallbacks():
    brand = brand_of(
        {
            "PROVIDER_NAME": "  Nimbus   Cloud ",
            "PROVIDER_LOGO_URL": "/static/brand/nimbus-cloud.png",
            "PROVIDER_ACCENT_COLOUR": "#0B5",
            "BASE_URL": "https://changes.nimbus.example/",
        }
    )
    assert brand.name == "Nimbus Cloud"
    assert brand.logo_url == "https://changes.nimbus.example/static/brand/nimbus-cloud.png"
    assert brand.accent == "#00bb55"
    # Without a name, the sender's display name; without either, the portal's host name.
    sender = {"MAIL_DEFAULT_SENDER": "Stratus Hosting <notices@stratus.example>"}
    assert brand_of(sender).name == "Stratus Hosting"
    assert brand_of({"MAIL_DEFAULT_SENDER": ("Cirrus", "n@c.example")}).name == "Cirrus"
    assert brand_of({"BASE_URL": "https://changes.cirrus.example"}).name == "changes.cirrus.example"
    assert brand_of({}).logo_url == ""


def test_the_buttons_text_contrasts_with_the_accent():
    assert readable_on("#0b5cad") == "#ffffff"  # dark blue: white text
    assert readable_on("#ffd700") == "#000000"  # gold: black text
    assert readable_on("#777777") == "#000000"  # 4.7:1 with black, 4.5:1 with white


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("PROVIDER_ACCENT_COLOUR", "red; background:url(https://x.example/t.png)"),
        ("PROVIDER_ACCENT_COLOUR", "#12345"),
        ("PROVIDER_LOGO_URL", "javascript:alert(1)"),
        ("PROVIDER_LOGO_URL", 'https://cdn.example/logo.png" onerror="alert(1)'),
        ("PROVIDER_LOGO_URL", "//cdn.example/logo.png"),
        ("PROVIDER_NAME", "Nimbus\r\nBcc: everyone@example.com"),
        ("PROVIDER_NAME", "N" * 101),
    ],
)
def test_a_bad_branding_setting_stops_the_start_naming_it(tmp_path, setting, value):
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"}
    with pytest.raises(ConfigurationError, match=f"PORTAL_{setting}"):
        create_app({**config, setting: value})


def test_the_demo_is_a_believable_cloud_provider(tmp_path, monkeypatch):
    from portal.demo.cli import build_demo_app

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    app = build_demo_app(host="127.0.0.1", port=5099, smtp_port=8099)
    brand = brand_of(app.config)
    assert brand.name == "Nimbus Cloud" and "Forewarn" not in app.config["MAIL_DEFAULT_SENDER"]
    assert brand.logo_url == "http://127.0.0.1:5099/static/brand/nimbus-cloud.png"
    logo = app.test_client().get("/static/brand/nimbus-cloud.png")
    assert logo.status_code == 200 and logo.data.startswith(b"\x89PNG\r\n\x1a\n")
    logo.close()
