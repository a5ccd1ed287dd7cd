"""``forewarn dispatch`` (send what is due, then exit) and ``forewarn worker`` (a loop)."""

from __future__ import annotations

import signal
import sys
import threading

import click
from flask import Flask, current_app

from portal.clock import get_clock
from portal.extensions import db
from portal.ledger.checkpoints import issue_checkpoint_if_due
from portal.notify.claims import due_count, new_worker_id
from portal.notify.dispatch import DeliveryDisabled, dispatch_due
from portal.notify.reminders import queue_due_reminders
from portal.notify.worker import run_worker
from portal.ops.health import probe_relay
from portal.ops.logs import DELIVERY, configure_logging

# `forewarn dispatch` exit statuses (see README "Commands").
EXIT_FAILED = 1  # some notices finally failed, or nothing due could be sent
EXIT_RELAY = 3  # `forewarn worker`: the mail relay is unreachable at startup


def dispatch_status(result) -> int:
    """0, or ``EXIT_FAILED`` when rows finally failed or rows were due and none was sent
    (every one is waiting for a retry)."""
    if result.failed or (result.retrying and not result.sent):
        return EXIT_FAILED
    return 0


def register(app: Flask) -> None:
    @app.cli.command("dispatch")
    @click.option(
        "--batch-size",
        type=click.IntRange(1, 10_000),
        default=None,
        help="Rows per SMTP connection [default: DISPATCH_BATCH_SIZE].",
    )
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    def dispatch_command(batch_size: int | None, quiet: bool):
        """Queue due reminders, send every due outbox row, then exit.

        Exits 1 when a notice finally failed or nothing due could be sent (all to retry)."""
        configure_logging(current_app, level=None if not quiet else "WARNING")
        clock = get_clock()
        queued = queue_due_reminders(clock.now())
        db.session.commit()
        total = due_count(clock.now())
        try:
            with click.progressbar(
                length=total, label="Sending notices", file=sys.stderr, hidden=quiet or total == 0
            ) as bar:
                result = dispatch_due(
                    now=clock.now,
                    batch_size=batch_size,
                    worker=new_worker_id(),
                    progress=bar.update,
                )
        except DeliveryDisabled as err:
            raise click.ClickException(str(err)) from None
        issue_checkpoint_if_due(clock.now())  # sign the ledger's new entries (issue 13)
        click.echo(
            f"{result.sent} sent, {result.retrying} to retry, {result.failed} failed, "
            f"{result.skipped} skipped" + (f"; {queued} reminder(s) queued" if queued else "")
        )
        status = dispatch_status(result)
        if status:
            click.echo(
                "Not everything was delivered: "
                + (
                    f"{result.failed} notice(s) finally failed (see the log lines above)"
                    if result.failed
                    else "nothing could be sent; every due row waits for a retry"
                ),
                err=True,
            )
        sys.exit(status)

    @app.cli.command("worker")
    @click.option(
        "--no-relay-check",
        is_flag=True,
        help="Start even when the mail relay cannot be reached (the worker keeps retrying).",
    )
    def worker_command(no_relay_check: bool):
        """Send notices continuously until SIGTERM or Ctrl-C (finishes the batch in hand).

        Exits 3 at once when the mail relay cannot be reached at startup, unless
        --no-relay-check."""
        configure_logging(current_app)
        if not no_relay_check:
            problem = probe_relay()
            if problem is not None:
                click.echo(
                    f"Error: {problem}. Check PORTAL_MAIL_SERVER / PORTAL_MAIL_PORT (and TLS, "
                    "credentials), or start with --no-relay-check to wait for it.",
                    err=True,
                )
                sys.exit(EXIT_RELAY)
        stop = threading.Event()

        def _stop(signum, _frame):
            DELIVERY.info("Stopping the worker (%s)…", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        # Flask types current_app as Flask; the proxy's documented accessor is not in that type.
        app_obj = current_app._get_current_object()  # type: ignore[attr-defined]
        # Log lines, not echoes, so that a JSON log (PORTAL_LOG_FORMAT=json) stays all JSON.
        DELIVERY.info(
            "Delivery worker: SMTP %s:%s, every %s s when idle.",
            app_obj.config["MAIL_SERVER"],
            app_obj.config["MAIL_PORT"],
            app_obj.config["WORKER_INTERVAL_SECONDS"],
        )
        run_worker(app_obj, stop)
        DELIVERY.info("Worker stopped.")
