"""What the delivery worker tells an operator between batches: outages, summaries, heartbeats.

``WorkerMonitor`` is driven by ``portal.notify.worker.run_worker``:

- ``round_failed(exc)``: the first failure of a kind logs one line (a traceback only for an
  unexpected error, never for an unreachable database); repeats are counted silently, and
  the round that works again logs one line saying how long the outage lasted.
- ``tick(now)``: every ``WORKER_HEARTBEAT_SECONDS`` probes the relay (an outage of its own,
  logged the same way) and upserts the heartbeat; every ``WORKER_SUMMARY_SECONDS`` logs one
  summary line of what the interval did.

Times here are ``time.monotonic()`` seconds and real UTC, not the demo's travelled clock.
"""

from __future__ import annotations

import logging
import time

from flask import Flask
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from portal.clock import utcnow
from portal.extensions import db
from portal.ops import health
from portal.ops.logs import DELIVERY


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return " ".join((text[0] if text else type(orig).__name__).split())[:300]


def classify(exc: BaseException) -> tuple[str, str]:
    """(outage key, one-line description) of a failed round: database errors that mean the
    server cannot be reached share one key, whatever the driver says."""
    if isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return "database", f"database unreachable: {_first_line(exc)}"
    if isinstance(exc, SQLAlchemyError):
        return f"database-error:{type(exc).__name__}", f"database error: {_first_line(exc)}"
    return f"error:{type(exc).__name__}:{exc}", f"{type(exc).__name__}: {_first_line(exc)}"


class Outage:
    """One ongoing outage: when it started and how many times it was seen again."""

    def __init__(self, description: str):
        self.description = description
        self.started = time.monotonic()
        self.repeats = 0


class WorkerMonitor:
    """Logs, summaries and heartbeats of one delivery worker (see the module docstring)."""

    def __init__(self, app: Flask, worker: str):
        self.worker = worker
        self.heartbeat_every = float(app.config["WORKER_HEARTBEAT_SECONDS"])
        self.summary_every = float(app.config["WORKER_SUMMARY_SECONDS"])
        self.outages: dict[str, Outage] = {}
        self.started_at = utcnow()
        self.next_beat = 0.0
        self.next_summary = time.monotonic() + self.summary_every
        self.totals = {"sent": 0, "retrying": 0, "failed": 0, "skipped": 0, "batches": 0}

    # Outages ---------------------------------------------------------------------------
    def outage(self, key: str, description: str, *, traceback: BaseException | None = None):
        """Log the start of an outage once; later calls with the same key only count."""
        current = self.outages.get(key)
        if current is not None:
            current.repeats += 1
            return
        self.outages[key] = Outage(description)
        DELIVERY.error(
            "outage: %s (logged once; the worker keeps trying)",
            description,
            exc_info=traceback,
            extra={"fields": {"event": "outage.start", "outage": key.split(":")[0]}},
        )

    def recovered(self, *keys: str) -> None:
        """Log the end of each ongoing outage among ``keys`` (all when none are given)."""
        for key in keys or list(self.outages):
            current = self.outages.pop(key, None)
            if current is None:
                continue
            lasted = time.monotonic() - current.started
            DELIVERY.warning(
                "recovered after %.0f s (%d more failure(s) not logged): %s",
                lasted,
                current.repeats,
                current.description,
                extra={
                    "fields": {
                        "event": "outage.end",
                        "outage": key.split(":")[0],
                        "seconds": round(lasted, 1),
                        "repeats": current.repeats,
                    }
                },
            )

    def round_failed(self, exc: BaseException) -> None:
        """A round raised ``exc``: an outage line the first time, a traceback only for errors
        that are not the database being unreachable."""
        key, description = classify(exc)
        unexpected = key.startswith("error:") or key.startswith("database-error:")
        self.outage(key, description, traceback=exc if unexpected else None)

    def round_done(self, result) -> None:
        """A round worked: end any round outage, and add its ``DispatchResult`` to the
        interval's totals."""
        self.recovered(*[k for k in self.outages if k != "relay"])
        for name in ("sent", "retrying", "failed", "skipped"):
            self.totals[name] += getattr(result, name)
        self.totals["batches"] += bool(result.claimed)

    # Heartbeat and summary -------------------------------------------------------------
    def tick(self) -> None:
        """Heartbeat (with a relay probe) and summary when their intervals are up. A database
        failure here becomes the database outage, like a failed round."""
        moment = time.monotonic()
        if moment >= self.next_beat:
            self.next_beat = moment + self.heartbeat_every
            relay_error = health.probe_relay(timeout=min(10.0, self.heartbeat_every))
            if relay_error is None:
                self.recovered("relay")
            else:
                self.outage("relay", relay_error)
            try:
                health.beat(
                    self.worker,
                    started_at=self.started_at,
                    now=utcnow(),
                    relay_error=relay_error,
                    relay_checked=True,
                )
            except SQLAlchemyError as exc:
                db.session.rollback()
                self.round_failed(exc)
        if moment >= self.next_summary:
            self.next_summary = moment + self.summary_every
            self.summary()

    def summary(self) -> None:
        """One line: what the last interval did and which outages are ongoing."""
        t = self.totals
        ongoing = [o.description for o in self.outages.values()]
        DELIVERY.log(
            logging.WARNING if ongoing or t["failed"] else logging.INFO,
            "last %.0f s: %d sent, %d to retry, %d failed, %d skipped in %d batch(es)%s",
            self.summary_every,
            t["sent"],
            t["retrying"],
            t["failed"],
            t["skipped"],
            t["batches"],
            ("; ongoing: " + "; ".join(ongoing)) if ongoing else "",
            extra={
                "fields": {
                    "event": "delivery.summary",
                    "seconds": self.summary_every,
                    **t,
                    "outages": ongoing,
                }
            },
        )
        self.totals = dict.fromkeys(t, 0)

    def stopped(self) -> None:
        """Forget this worker's heartbeat (a stopped worker is not a live one)."""
        try:
            health.forget(self.worker)
        except SQLAlchemyError:
            db.session.rollback()
