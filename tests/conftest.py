"""Test fixtures: a migrated database per run (SQLite, or PostgreSQL when
PORTAL_TEST_DATABASE_URL is set), a fresh app and empty tables per test, a frozen clock,
and factory fixtures."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import flask_migrate
import pytest
from flask_login import FlaskLoginClient
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, inspect, make_url, text

from portal import create_app, normalise_database_url
from portal.changes.defaults import DEFAULT_IMPACT_LEVELS
from portal.changes.models import ImpactLevel
from portal.clock import FrozenClock
from portal.extensions import db, dispose_engines
from tests import factories

# Property tests judge the rules, not the machine: on a loaded 2-core CI box input generation
# can be slow, which is no defect of the code under test.
settings.register_profile("forewarn", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("forewarn")

# A Monday morning, well away from any daylight-saving edge.
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)

KEEP_TABLES = {"alembic_version"}


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A database of this run's own: a SQLite file, or a new PostgreSQL database."""
    base = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'forewarn-test.sqlite3'}"
        return
    base_url = make_url(normalise_database_url(base))
    name = f"forewarn_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_url(database_url):
    """The schema built by the migrations (never by create_all), once per run."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        flask_migrate.upgrade()
        dispose_engines()
    return database_url


@pytest.fixture
def clock():
    return FrozenClock(T0)


@pytest.fixture
def app_config(migrated_url, tmp_path):
    """Settings for this test's app; tests and feature conftests may add to it."""
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": migrated_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": None,
        "BASE_URL": "http://portal.test",
        "MAIL_SUPPRESS_SEND": True,
    }


@pytest.fixture
def app(app_config, clock, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    # Invoking the `forewarn`/`flask` CLI in-process sets FLASK_RUN_FROM_CLI for good, and then
    # pytest-flask's live_server silently refuses to start the app in a later test.
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    app = create_app(app_config)
    app.extensions["forewarn.clock"] = clock
    app.test_client_class = FlaskLoginClient
    yield app
    with app.app_context():
        db.session.remove()
        empty_tables()
        dispose_engines()


def empty_tables() -> None:
    """Delete every row the test wrote (the schema stays, built once by the migrations)."""
    tables = [t for t in db.metadata.sorted_tables if t.name not in KEEP_TABLES]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                conn.execute(table.delete())
        # Reference data the first migration inserts, back to its defaults.
        conn.execute(ImpactLevel.__table__.insert(), DEFAULT_IMPACT_LEVELS)


@pytest.fixture
def login(client):
    """``login(user)``: sign the test client in as ``user`` (through the session cookie)."""

    def _login(user):
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        return client

    return _login


# Factory fixtures: thin wrappers so tests read ``make_tenant(...)``.
@pytest.fixture
def make_tenant(app):
    return factories.make_tenant


@pytest.fixture
def make_user(app):
    return factories.make_user


@pytest.fixture
def make_team(app):
    return factories.make_team


@pytest.fixture
def make_service(app):
    return factories.make_service


@pytest.fixture
def make_usage(app):
    return factories.make_usage


@pytest.fixture
def make_contact(app):
    return factories.make_contact


@pytest.fixture
def make_contract_term(app):
    return factories.make_contract_term


@pytest.fixture
def make_change(app):
    return factories.make_change


@pytest.fixture
def admin(make_user):
    return make_user("admin@provider.example", name="Ada Admin", is_admin=True)


@pytest.fixture
def db_inspector(app):
    return inspect(db.engine)
