"""The demo command's set-up in-process: the database in the instance folder, migrations,
idempotent seeding, ``--reset``, and a clear message when a port is taken."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from portal.cli import main
from portal.demo.cli import build_demo_app, prepare_database
from portal.extensions import db, dispose_engines
from portal.tenants.models import Tenant


@pytest.fixture
def instance(tmp_path, monkeypatch):
    path = tmp_path / "instance"
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(path))
    monkeypatch.delenv("PORTAL_DATABASE_URL", raising=False)
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    return path


def tenants(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Tenant))


def test_second_run_keeps_everything_and_reset_starts_over(instance):
    app = build_demo_app(host="127.0.0.1", port=5000, smtp_port=8025)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'forewarn.sqlite3'}"
    assert app.config["MAIL_PORT"] == 8025 and not app.config["MAIL_SUPPRESS_SEND"]
    assert prepare_database(app, reset=False) > 0
    assert (instance / "forewarn.sqlite3").exists() and tenants(app) == 60
    with app.app_context():
        db.session.execute(db.delete(Tenant).where(Tenant.slug == "fuji-robotics"))
        db.session.commit()
    assert prepare_database(app, reset=False) > 0  # only the missing tenant comes back
    assert tenants(app) == 60
    assert prepare_database(app, reset=False) == 0
    assert prepare_database(app, reset=True) > 0
    assert tenants(app) == 60
    with app.app_context():
        dispose_engines()


def test_a_busy_port_is_reported_plainly(instance):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["demo", "--port", str(port)])
    assert result.exit_code != 0
    assert f"port {port}" in result.output and "--port" in result.output
