"""The delivery worker: a loop that queues due reminders and dispatches due outbox rows.

``run_worker(app, stop)`` runs until the ``threading.Event`` is set; it finishes the batch in
hand first, so a stopped worker leaves no row half-recorded (and a killed one only leaves rows
whose lease will run out). `forewarn worker` runs it in the foreground with SIGTERM/SIGINT
setting the event; `forewarn demo` runs it in a thread beside the web server. Either way the
SMTP conversation runs in a sender process of the dispatcher's (``portal.notify.sender``), so
nothing here changes the interpreter's settings (such as its thread switch interval) for the
process it shares.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from portal.changes.emergency import expire_stale_requests
from portal.clock import get_clock
from portal.extensions import db
from portal.ledger.checkpoints import issue_checkpoint_if_due
from portal.notify.claims import new_worker_id
from portal.notify.dispatch import DeliveryDisabled, DispatchResult, dispatch_due
from portal.notify.reminders import queue_due_reminders
from portal.ops.monitor import WorkerMonitor

log = logging.getLogger(__name__)


def work_once(worker: str, stop: threading.Event) -> DispatchResult:
    """One round: queue due reminders and expire emergency requests whose start passed
    (committed), then send what is due, batch after batch
    (pipelined like `forewarn dispatch`), until nothing is due or ``stop`` is set."""
    clock = get_clock()
    queue_due_reminders(clock.now())
    expire_stale_requests(clock.now())
    db.session.commit()
    result = dispatch_due(now=clock.now, worker=worker, should_stop=stop.is_set)
    issue_checkpoint_if_due(clock.now())  # sign the ledger's new entries (issue 13)
    return result


def run_worker(app: Flask, stop: threading.Event) -> None:
    """Loop until ``stop`` is set: work while rows are due, else wait the interval. What
    happens is logged by ``portal.ops.monitor`` (a line per batch, a summary per interval, a
    line per outage) and a heartbeat is written for ``/readyz``."""
    interval = float(app.config.get("WORKER_INTERVAL_SECONDS", 5.0))
    worker = new_worker_id()
    with app.app_context():
        monitor = WorkerMonitor(app, worker)
        log.info("delivery worker %s started", worker)
        while not stop.is_set():
            busy = False
            try:
                result = work_once(worker, stop)
                busy = result.claimed > 0
                monitor.round_done(result)
            except DeliveryDisabled as err:
                monitor.outage("disabled", f"delivery disabled: {err}")
            except Exception as exc:  # a bad round must not end the worker; the next one retries
                db.session.rollback()
                monitor.round_failed(exc)
            finally:
                db.session.remove()
            monitor.tick()
            db.session.remove()
            if not busy:
                stop.wait(interval)
        monitor.stopped()
        db.session.remove()
        log.info("delivery worker %s stopped", worker)
