"""Prometheus metrics (``prometheus_client``), served at ``/metrics`` by ``portal.ops.routes``.

Two kinds:

- **Counters and histograms kept by the processes** that do the work: deliveries by outcome,
  retries by reason class, final failures by kind, lease take-overs (the delivery worker and
  ``forewarn dispatch``) and request latency by endpoint (the web processes). Under gunicorn,
  and to see the worker's counters from the web's ``/metrics``, every process on the host
  shares one ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode; see
  docs/production.md); without it each process only reports its own.
- **Gauges read from the database at each scrape** (``DatabaseCollector``), so they are right
  whichever process answers and however many workers run: notices due and the oldest one's
  age, gates shut because notice is not given (by reason), tenants with a finally failed
  notice, ledger size, worker heartbeat age, and the relay as the worker last found it.

Metric names, units (seconds; ``_total`` counters) and labels are listed in docs/production.md.
"""

from __future__ import annotations

import datetime as dt
import os
import time

from flask import Flask, current_app, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from portal.changes.models import IN_PROGRESS, SCHEDULED, Change, ChangeTenant
from portal.clock import utcnow
from portal.extensions import db
from portal.ledger.models import LedgerCheckpoint, LedgerHead
from portal.notify.claims import due, expired_leases
from portal.notify.models import FAILED, NOTICE, SENT, SKIPPED, OutboxMessage
from portal.ops import (
    counters,  # noqa: F401  (its counters are in the exposition)
    health,
)

REQUEST_LATENCY = Histogram(
    "forewarn_request_duration_seconds",
    "Time to answer a web request, by endpoint and method.",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def init_app(app: Flask) -> None:
    """Time every request into ``forewarn_request_duration_seconds``."""

    @app.before_request
    def _start_timer():
        g.forewarn_request_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.pop("forewarn_request_started", None)
        if started is not None:
            rule = request.url_rule
            REQUEST_LATENCY.labels(rule.endpoint if rule else "unmatched", request.method).observe(
                time.perf_counter() - started
            )
        return response


def exposition(now: dt.datetime) -> bytes:
    """The text exposition format (version 0.0.4) of every metric: the processes' counters
    (all of this host's processes in multiprocess mode) and the database gauges at ``now``
    (the portal clock, UTC)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(DatabaseCollector(now))
    return body + generate_latest(gauges)


class DatabaseCollector:
    """Gauges computed from the database when scraped; ``forewarn_database_up`` is 0 (and the
    others are left out) when the database cannot be read."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def collect(self):
        up = GaugeMetricFamily("forewarn_database_up", "1 when the database answered the scrape.")
        try:
            families = [
                *self._due(),
                *self._gates(),
                self._ledger(),
                *self._checkpoint(),
                *self._heartbeats(),
            ]
        except SQLAlchemyError:
            db.session.rollback()
            current_app.logger.warning("metrics: the database could not be read")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _due(self):

        count, oldest = db.session.execute(
            select(func.count(), func.min(OutboxMessage.due_at)).where(
                or_(due(self.now), expired_leases(self.now))
            )
        ).one()
        if isinstance(oldest, dt.datetime) and oldest.tzinfo is None:  # SQLite aggregates
            oldest = oldest.replace(tzinfo=dt.UTC)
        due_gauge = GaugeMetricFamily(
            "forewarn_notices_due",
            "Outbox rows due now (pending and due, or whose worker's lease ran out).",
        )
        due_gauge.add_metric([], count or 0)
        age = GaugeMetricFamily(
            "forewarn_oldest_due_age_seconds",
            "Seconds since the oldest due outbox row became due (0 when none is due).",
        )
        age.add_metric([], max(0.0, (self.now - oldest).total_seconds()) if oldest else 0.0)
        return [due_gauge, age]

    def _gates(self):
        """Tenants of scheduled or in-progress changes, not started, not waived and not
        approved as an emergency, whose notice is not given: the gate is shut for them, for the
        reason ``portal.notify.status.TenantDelivery.state`` gives (queued, retrying, failed,
        no contact). Gates waiting only for their window or start time are not counted."""
        om, ct = OutboxMessage, ChangeTenant
        waiting = om.status.not_in((SENT, FAILED))

        def count(condition):
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        agg = (
            select(
                om.change_id,
                om.tenant_id,
                count(om.status == SENT).label("sent"),
                count(om.status == FAILED).label("failed"),
                count(waiting).label("pending"),
                count(and_(waiting, om.attempts > 0)).label("retrying"),
            )
            .join(
                ct,
                and_(
                    ct.change_id == om.change_id,
                    ct.tenant_id == om.tenant_id,
                    ct.clock_revision == om.revision_number,
                ),
            )
            .where(om.kind == NOTICE, om.status != SKIPPED, ct.notice_given_at.is_(None))
            .group_by(om.change_id, om.tenant_id)
            .subquery()
        )
        sent, failed = func.coalesce(agg.c.sent, 0), func.coalesce(agg.c.failed, 0)
        pending, retrying = func.coalesce(agg.c.pending, 0), func.coalesce(agg.c.retrying, 0)
        state = case(
            (sent + pending + failed == 0, "no contact"),
            (and_(pending == 0, failed > 0), "failed"),
            (retrying > 0, "retrying"),
            else_="queued",
        ).label("state")
        shut = (
            select(ct.tenant_id, state)
            .join(Change, Change.id == ct.change_id)
            .outerjoin(agg, and_(agg.c.change_id == ct.change_id, agg.c.tenant_id == ct.tenant_id))
            .where(
                Change.status.in_((SCHEDULED, IN_PROGRESS)),
                ct.active.is_(True),
                ct.started_at.is_(None),
                ct.notice_given_at.is_(None),
                ct.waived_at.is_(None),
                ct.emergency_approved_at.is_(None),
            )
            .subquery()
        )
        rows = db.session.execute(
            select(shut.c.state, func.count(), func.count(shut.c.tenant_id.distinct())).group_by(
                shut.c.state
            )
        ).all()
        counts = {name: (0, 0) for name in ("queued", "retrying", "failed", "no contact")}
        counts.update({name: (n, tenants) for name, n, tenants in rows})
        gates = GaugeMetricFamily(
            "forewarn_gates_shut",
            "Go-live gates shut because the tenant's notice is not given, by reason.",
            labels=["reason"],
        )
        for name, (n, _tenants) in counts.items():
            gates.add_metric([name.replace(" ", "_")], n)
        tenants = GaugeMetricFamily(
            "forewarn_tenants_with_failed_notices",
            "Tenants with a finally failed notice (every contact failed) for a scheduled or "
            "in-progress change.",
        )
        tenants.add_metric([], counts["failed"][1])
        return [gates, tenants]

    def _ledger(self):

        size = db.session.scalar(select(func.max(LedgerHead.seq))) or 0
        gauge = GaugeMetricFamily("forewarn_ledger_entries", "Entries in the ledger.")
        gauge.add_metric([], size)
        return gauge

    def _checkpoint(self):
        """``forewarn_ledger_checkpoint_age_seconds``: seconds since the latest signed
        checkpoint (DESIGN.md "Proof"); absent before the first one."""
        latest = db.session.scalar(select(func.max(LedgerCheckpoint.issued_at)))
        gauge = GaugeMetricFamily(
            "forewarn_ledger_checkpoint_age_seconds",
            "Seconds since the latest signed ledger checkpoint (absent before the first).",
        )
        if latest is not None:
            if latest.tzinfo is None:
                latest = latest.replace(tzinfo=dt.UTC)
            gauge.add_metric([], max(0.0, (self.now - latest).total_seconds()))
        return [gauge]

    def _heartbeats(self):

        beat = health.latest_heartbeat()
        real_now = utcnow()
        age = GaugeMetricFamily(
            "forewarn_worker_heartbeat_age_seconds",
            "Seconds since the most recent delivery worker heartbeat (absent before the first).",
        )
        relay = GaugeMetricFamily(
            "forewarn_mail_relay_up",
            "1 when the most recent worker heartbeat reached the mail relay, else 0.",
        )
        if beat is not None:
            age.add_metric([], max(0.0, (real_now - beat.seen_at).total_seconds()))
            relay.add_metric([], 1 if beat.relay_ok else 0)
        workers = GaugeMetricFamily(
            "forewarn_workers_alive",
            "Delivery workers whose heartbeat is within READY_WORKER_MAX_AGE_SECONDS.",
        )
        workers.add_metric([], health.live_workers(real_now))
        return [age, relay, workers]
