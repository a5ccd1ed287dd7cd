"""Forewarn: a multi-tenant change-announcement portal that enforces notice windows."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from portal.config import (
    INSECURE_SECRET_KEYS,
    ConfigurationError,
    Defaults,
    read_secret_files,
)

ROOT = Path(__file__).resolve().parent.parent

# The imports inside the register_* steps below stay inside them on purpose: this package's
# __init__ runs before any ``portal.*`` module loads (``portal.clock`` as much as a route), so a
# module-level import here of the models, blueprints or commands would load the whole app for
# every import of any part of it, and would import the top floor from below every floor
# (docs/architecture.md). They are the factory's own wiring, done once per app.


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application. Builds only: no database writes, no network, no prompts."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH") or str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    configure(app, test_config)
    register_security(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    register_ops(app)
    register_subscriptions(app)
    return app


def configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Layer the configuration: defaults, instance file, PORTAL_* env, then the test mapping."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("PORTAL")
    if test_config:
        app.config.update(test_config)
    read_secret_files(app.config)
    from portal.branding import check_branding

    check_branding(app.config)

    if app.config.get("DEMO") or app.config.get("TESTING"):
        # Demo and tests run on plain http://127.0.0.1.
        app.config.setdefault("SESSION_COOKIE_SECURE", False)
        app.config["SESSION_COOKIE_SECURE"] = False
        app.config["REMEMBER_COOKIE_SECURE"] = False

    url = app.config.get("DATABASE_URL") or app.config.get("SQLALCHEMY_DATABASE_URI")
    if not url:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{Path(app.instance_path) / 'forewarn.sqlite3'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(url)
    configure_reads_bind(app)

    key = app.config.get("SECRET_KEY")
    if not key or key in INSECURE_SECRET_KEYS or len(str(key)) < 32:
        if app.config.get("TESTING"):
            app.config["SECRET_KEY"] = secrets.token_hex(32)
        elif app.config.get("DEMO"):
            app.config["SECRET_KEY"] = demo_secret_key(app)
        else:
            raise ConfigurationError(
                "PORTAL_SECRET_KEY is missing or too weak (need 32+ random characters); "
                "generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
            )


def configure_reads_bind(app: Flask) -> None:
    """A second pool on the same database for ``portal.reads``: autocommit, no liveness ping.

    Skipped for an in-memory SQLite database, which a second pool would not share.
    """
    from sqlalchemy.engine import make_url

    from portal.reads import BIND as READS_BIND

    uri = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if uri.get_backend_name() == "sqlite" and uri.database in (None, "", ":memory:"):
        return
    binds = dict(app.config.get("SQLALCHEMY_BINDS") or {})
    binds.setdefault(
        READS_BIND,
        {
            **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
            "url": app.config["SQLALCHEMY_DATABASE_URI"],
            "isolation_level": "AUTOCOMMIT",
            "pool_pre_ping": False,
            # Nothing to roll back on an autocommit connection.
            "pool_reset_on_return": None,
        },
    )
    app.config["SQLALCHEMY_BINDS"] = binds


def normalise_database_url(url: str) -> str:
    """Accept plain postgres:// URLs and select the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def demo_secret_key(app: Flask) -> str:
    """The demo makes its own key once and keeps it in the instance folder."""
    path = Path(app.instance_path) / "demo-secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def register_extensions(app: Flask) -> None:
    from portal import models  # noqa: F401  (registers every model on the metadata)
    from portal.clock import SystemClock
    from portal.extensions import csrf, db, init_db, init_limiter, login_manager, mail, migrate

    init_db(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    mail.init_app(app)
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_ENABLED", not app.config.get("TESTING"))
    init_limiter(app)
    app.extensions.setdefault("forewarn.clock", SystemClock(travel=bool(app.config.get("DEMO"))))


def register_security(app: Flask) -> None:
    from portal.security import init_app

    init_app(app)


def register_blueprints(app: Flask) -> None:
    from portal.blueprints import BLUEPRINTS

    for bp in BLUEPRINTS():
        app.register_blueprint(bp)


def register_errorhandlers(app: Flask) -> None:
    from portal.error_handlers import init_app

    init_app(app)


def register_template_helpers(app: Flask) -> None:
    from portal.templating import init_app

    init_app(app)


def register_ops(app: Flask) -> None:
    from portal.ops import init_app

    init_app(app)


def register_subscriptions(app: Flask) -> None:
    from portal.subscriptions import subscribe_all

    subscribe_all()


def register_commands(app: Flask) -> None:
    from portal.cli import init_app

    init_app(app)
