"""``forewarn dispatch`` (send what is due, then exit) and ``forewarn worker`` (a loop)."""

from __future__ import annotations

import logging
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
        """Queue due reminders, send every due outbox row, then exit."""
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

    @app.cli.command("worker")
    def worker_command():
        """Send notices continuously until SIGTERM or Ctrl-C (finishes the batch in hand)."""
        stop = threading.Event()

        def _stop(signum, _frame):
            click.echo(f"Stopping the worker ({signal.Signals(signum).name})…", err=True)
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        app_obj = current_app._get_current_object()
        click.echo(
            f"Delivery worker: SMTP {app_obj.config['MAIL_SERVER']}:"
            f"{app_obj.config['MAIL_PORT']}, every "
            f"{app_obj.config['WORKER_INTERVAL_SECONDS']} s when idle.",
            err=True,
        )
        run_worker(app_obj, stop)
        click.echo("Worker stopped.", err=True)
