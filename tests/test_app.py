"""The factory builds the app, and production refuses weak secrets."""

import pytest

from portal import ConfigurationError, create_app, normalise_database_url


def test_production_refuses_to_start_without_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app()


@pytest.mark.parametrize("weak", ["dev", "change-me", "short-key"])
def test_production_refuses_weak_secret_key(monkeypatch, tmp_path, weak):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PORTAL_SECRET_KEY", weak)
    with pytest.raises(ConfigurationError):
        create_app()


def test_environment_overrides_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PORTAL_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("PORTAL_DISPATCH_MARGIN_SECONDS", "1800")
    monkeypatch.setenv("PORTAL_DATABASE_URL", "postgres://u@db.example/forewarn")
    app = create_app()
    assert app.config["DISPATCH_MARGIN_SECONDS"] == 1800
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/forewarn"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_instance_config_file_is_a_layer(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    (tmp_path / "config.py").write_text("SECRET_KEY = '" + "k" * 40 + "'\nPAGE_SIZE = 7\n")
    app = create_app()
    assert app.config["PAGE_SIZE"] == 7


def test_demo_makes_and_keeps_its_own_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    first = create_app({"DEMO": True}).config["SECRET_KEY"]
    second = create_app({"DEMO": True}).config["SECRET_KEY"]
    assert first == second and len(first) >= 32


def test_sqlite_in_instance_folder_by_default(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    app = create_app({"DEMO": True})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'forewarn.sqlite3'}"


def test_normalise_database_url_keeps_other_urls():
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_unknown_page_is_a_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"404" in response.data


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.get_json()["error"]["status"] == 404
