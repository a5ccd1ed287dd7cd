"""The delivery counters kept by the processes that deliver (the worker, ``forewarn dispatch``):
deliveries by outcome, retries by reason class, final failures by kind, lease take-overs.

``portal.ops.logs`` counts each batch and take-over here as it logs it; ``portal.ops.metrics``
serves them (with the request latency and the database gauges) at ``/metrics``. Names, units
and labels are listed in docs/production.md.
"""

from __future__ import annotations

from prometheus_client import Counter

from portal.notify.models import FAILED, PENDING, SENT, SKIPPED

DELIVERIES = Counter(
    "forewarn_deliveries",
    "Outbox rows handled by a dispatcher, by outcome (sent, retry, failed, skipped).",
    ["outcome"],
)
RETRIES = Counter(
    "forewarn_delivery_retries",
    "Temporary delivery failures that will be retried, by reason class.",
    ["reason"],
)
FINAL_FAILURES = Counter(
    "forewarn_delivery_final_failures",
    "Outbox rows that finally failed (5xx answer, bad address, or retries used up), by kind.",
    ["kind"],
)
LEASE_TAKEOVERS = Counter(
    "forewarn_lease_takeovers",
    "Outbox rows claimed again because their worker's lease ran out.",
)


def reason_class(error: str | None) -> str:
    """A bounded label for a retry reason: ``4xx`` (the server's temporary refusal),
    ``connection``, ``timeout``, ``render`` or ``other``."""
    error = error or ""
    if error[:1] == "4" and error[:3].isdecimal():
        return "4xx"
    if "timed out" in error:
        return "timeout"
    if "connection" in error or "Connection" in error or "Errno" in error:
        return "connection"
    if error.startswith("could not render"):
        return "render"
    return "other"


def count_batch(batch) -> None:
    """Count one saved ``portal.notify.dispatch.Batch`` in the delivery counters."""
    kinds = {row.id: row.kind for row in batch.rows}
    for row_id, outcome in batch.outcomes.items():
        status = outcome["status"]
        if status == SENT:
            DELIVERIES.labels("sent").inc()
        elif status == PENDING:
            DELIVERIES.labels("retry").inc()
            RETRIES.labels(reason_class(outcome["last_error"])).inc()
        elif status == FAILED:
            DELIVERIES.labels("failed").inc()
            FINAL_FAILURES.labels(kinds.get(row_id, "unknown")).inc()
        elif status == SKIPPED:
            DELIVERIES.labels("skipped").inc()
