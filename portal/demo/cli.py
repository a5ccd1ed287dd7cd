"""``forewarn demo``: one command that shows the whole loop on a laptop.

It builds its own app with ``DEMO = True`` (time travel, a demo secret key, the mailbox), so it
works before any production setting exists: SQLite in the instance folder, migrations, the
demo provider, the embedded SMTP sink that Flask-Mail is pointed at, the delivery worker when
that feature is installed, and a threaded web server. Ctrl-C (or SIGTERM) stops everything.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click
import flask_migrate
from flask import Flask
from sqlalchemy import event, text
from werkzeug.serving import make_server

from portal import create_app
from portal.clock import get_clock
from portal.demo.data import CUSTOMERS, STAFF
from portal.extensions import db, dispose_engines
from portal.ledger.checkpoints import prepare_demo as prepare_demo_ledger

# Which demo login shows which role, in the order the command prints them.
ROLE_LOGINS = [
    ("admin", "admin"),
    ("platform engineer (Face Fusion team)", "engineer"),
    ("engineer with the approver right", "approver"),
    ("account manager (Tapai, Ptu, …)", "manager"),
    ("customer tenant admin at Tapai", "tapai-admin"),
    ("customer user at Ptu (first-party)", "ptu-user"),
]


def demo_login_emails() -> dict[str, str]:
    return {key: email for key, email, *_ in STAFF + CUSTOMERS}


# The demo provider's brand (like the rest of the demo's settings, it wins over the instance
# file and PORTAL_* variables).
# DEFERRED_IMPORTS: ``portal.cli`` imports this module for every ``forewarn`` command, so the
# seed (every service), the dispatcher, the worker and the mail sink (aiosmtpd) are imported
# inside the functions that run the demo, not at the top: `forewarn --help` stays quick.
DEMO_BRAND = {
    "PROVIDER_NAME": "Nimbus Cloud",
    "PROVIDER_LOGO_URL": "/static/brand/nimbus-cloud.png",
    "PROVIDER_ACCENT_COLOUR": "#0b5cad",
    "MAIL_DEFAULT_SENDER": "Nimbus Cloud <change-notices@nimbus-cloud.example>",
}


def build_demo_app(*, host: str, port: int, smtp_port: int | None) -> Flask:
    """The demo app: its own SQLite file in the instance folder and mail sent to the sink."""

    # SQLite waits up to 30 s for a lock instead of 5: web, worker and sink share one file.
    local = {
        "DEMO": True,
        "DATABASE_URL": None,
        "SQLALCHEMY_DATABASE_URI": None,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "connect_args": {"timeout": 30}},
        # A published change's mail should show in the mailbox within a few seconds.
        "WORKER_INTERVAL_SECONDS": 2.0,
        # The believable cloud provider whose brand heads every notice (issue 15).
        **DEMO_BRAND,
    }
    probe = create_app(local)
    smtp_port = probe.config["DEMO_SMTP_PORT"] if smtp_port is None else smtp_port
    url_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104  (a check)
    return create_app(
        {
            **local,
            "MAIL_SERVER": probe.config["DEMO_SMTP_HOST"],
            "MAIL_PORT": smtp_port,
            "MAIL_USE_TLS": False,
            "MAIL_USE_SSL": False,
            "MAIL_USERNAME": None,
            "MAIL_PASSWORD": None,
            "MAIL_SUPPRESS_SEND": False,
            "BASE_URL": f"http://{url_host}:{port}",
        }
    )


def prepare_database(app: Flask, *, reset: bool, deliver_history: bool = False) -> int:
    """Create or upgrade the demo database and seed it; returns the rows created.

    With ``deliver_history`` (the mail sink must be running), mail of the story's past is
    dispatched at its own time while seeding, so its notices were given when the story says.
    """
    # start-up cost: see DEFERRED_IMPORTS above
    from portal.demo.seed import seed_demo

    path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    with app.app_context():
        if reset and path.exists():
            dispose_engines()
            path.unlink()
        # Write-ahead logging lets the sink store mail while the worker, mid-send, still
        # reads: without it the two would wait on each other's locks. The mode is persistent;
        # synchronous=NORMAL (safe with WAL) is per connection, so it is set on each.
        event.listen(db.engine, "connect", _sqlite_pragmas)
        dispose_engines()
        db.session.execute(text("PRAGMA journal_mode=WAL"))
        db.session.commit()
        flask_migrate.upgrade()
        prepare_demo_ledger(reset=reset)  # a checkpoint signing key (issue 13)
        deliver = _deliver_at if deliver_history else None
        world = seed_demo(
            password=app.config["DEMO_PASSWORD"], now=get_clock().now(), deliver=deliver
        )
        db.session.commit()
        return world.created


def _deliver_at(at) -> None:
    """One dispatch run with the clock at ``at`` (the seed's history): real SMTP to the sink."""
    # start-up cost: see DEFERRED_IMPORTS above
    from portal.notify.dispatch import dispatch_due

    dispatch_due(now=lambda: at)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def start_worker(app: Flask, stop: threading.Event) -> threading.Thread:
    """The delivery worker in a thread beside the web server; it stops when ``stop`` is set."""
    # start-up cost: see DEFERRED_IMPORTS above
    from portal.notify.worker import run_worker

    thread = threading.Thread(
        target=run_worker, args=(app, stop), name="forewarn-worker", daemon=True
    )
    thread.start()
    click.echo("Delivery worker: running; notices are sent to the demo mail sink.")
    return thread


def _busy(what: str, host: str, port: int, option: str, err: OSError) -> click.ClickException:
    return click.ClickException(
        f"{what} port {port} on {host} is busy ({err.strerror or err}). Is another demo "
        f"running? Stop it, or choose another port with {option}."
    )


def _stop_on_sigterm(*_args) -> None:
    raise KeyboardInterrupt


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option(
    "--port",
    default=5000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Web server port.",
)
@click.option(
    "--smtp-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port of the embedded SMTP sink [default: DEMO_SMTP_PORT, 8025].",
)
@click.option("--reset", is_flag=True, help="Delete the demo database first and seed afresh.")
def demo_command(host: str, port: int, smtp_port: int | None, reset: bool) -> None:
    """Run the demo: database, demo data, mail sink, worker and web server on one machine."""
    # start-up cost: see DEFERRED_IMPORTS above
    from portal.mailbox.sink import start_sink

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    app = build_demo_app(host=host, port=port, smtp_port=smtp_port)
    try:
        server = make_server(host, port, app, threaded=True)
    except (OSError, SystemExit) as err:  # werkzeug exits on "address in use"
        raise _busy(
            "Web",
            host,
            port,
            "--port",
            err if isinstance(err, OSError) else OSError("address in use"),
        ) from err
    sink = None
    try:
        sink_host, sink_port = app.config["MAIL_SERVER"], app.config["MAIL_PORT"]
        try:
            sink = start_sink(app, sink_host, sink_port)
        except (OSError, RuntimeError) as err:
            raise _busy(
                "SMTP sink",
                sink_host,
                sink_port,
                "--smtp-port",
                err if isinstance(err, OSError) else OSError(str(err)),
            ) from err
        # The sink runs first so the story's past is mailed at its own time while seeding.
        created = prepare_database(app, reset=reset, deliver_history=True)
    except BaseException:
        server.server_close()
        if sink is not None:
            sink.stop()
        raise
    stop = threading.Event()
    worker = start_worker(app, stop)
    _print_welcome(app, created)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("\nStopping the demo…")
    finally:
        stop.set()
        server.server_close()
        worker.join(timeout=10)
        sink.stop()
        click.echo("Demo stopped.")


def _print_welcome(app: Flask, created: int) -> None:
    emails = demo_login_emails()
    db_note = "created" if created else "already seeded"
    click.echo("")
    click.secho(f"Forewarn demo: {app.config['BASE_URL']}/", bold=True)
    click.echo(
        f"Database: {app.config['SQLALCHEMY_DATABASE_URI']} ({db_note}; --reset starts over)"
    )
    click.echo(
        f"Mail sink: smtp://{app.config['MAIL_SERVER']}:{app.config['MAIL_PORT']} "
        f"(caught mail at {app.config['BASE_URL']}/mailbox/)"
    )
    click.echo(f"Demo logins, all with the password {app.config['DEMO_PASSWORD']!r}:")
    for role, key in ROLE_LOGINS:
        click.echo(f"  {role:<42} {emails[key]}")
    click.echo(
        "Use the yellow demo bar to travel forward in time; the story to follow is in "
        'README.md, "The demo". Ctrl-C stops the demo.\n'
    )


def register(app: Flask) -> None:
    """Add this feature's commands to ``app.cli``."""
    app.cli.add_command(demo_command)
