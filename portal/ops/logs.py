"""Structured logs for operators, through the standard library's ``logging``.

``configure_logging(app)`` sends every record to stderr (systemd's journal picks it up) as
text or, with ``LOG_FORMAT = "json"``, as one JSON object per line: ``time`` (ISO 8601 UTC),
``level``, ``logger``, ``message`` and the record's ``fields`` (a dict given as
``extra={"fields": {...}}``), so log tools can filter on e.g. ``event`` or ``failed``.

Delivery lines come from the ``forewarn.delivery`` logger: one per batch (``batch_done``), one
per lease take-over (``leases_taken_over``), and from ``portal.ops.monitor`` one summary per
interval and one line when an outage starts and one when it ends (DESIGN.md "Defaults and
scale": structured logs).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections import Counter
from collections.abc import Iterable

from flask import Flask

from portal.notify.models import FAILED, PENDING
from portal.ops import counters

DELIVERY = logging.getLogger("forewarn.delivery")

FORMATS = ("text", "json")
_HANDLER_NAME = "forewarn"
TOP_REASONS = 3  # reasons named in a text line; the JSON fields carry up to 10


class JsonFormatter(logging.Formatter):
    """One JSON object per record; a traceback, if any, becomes the ``traceback`` string."""

    def format(self, record: logging.LogRecord) -> str:
        body = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            body["traceback"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2026-11-29T20:50:01Z INFO forewarn.delivery: message``, times in UTC."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ")

    def converter(self, timestamp):  # UTC, not local time
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).timetuple()


def configure_logging(app: Flask, *, level: str | None = None) -> None:
    """Install one stderr handler on the root logger in ``LOG_FORMAT`` (text | json) at
    ``LOG_LEVEL`` (default INFO); calling it again replaces it. Raises ValueError naming the
    setting when ``LOG_FORMAT`` is neither."""
    fmt = str(app.config.get("LOG_FORMAT") or "text").lower()
    if fmt not in FORMATS:
        raise ValueError(f"PORTAL_LOG_FORMAT must be 'text' or 'json', not {fmt!r}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level or str(app.config.get("LOG_LEVEL") or "INFO").upper())


def _tally(errors: Iterable[str | None]) -> list[tuple[str, int]]:
    return Counter(" ".join((e or "unknown").split())[:300] for e in errors).most_common(10)


def _named(tally: list[tuple[str, int]]) -> str:
    shown = "; ".join(f"{n}× {reason}" for reason, n in tally[:TOP_REASONS])
    more = len(tally) - TOP_REASONS
    return shown + (f"; and {more} other reason(s)" if more > 0 else "")


def batch_line(result, outcomes: dict[int, dict]) -> tuple[str, dict]:
    """The text and fields of one batch's log line from its ``DispatchResult`` and outcome
    values (``status``, ``last_error`` per row id, as ``portal.notify.dispatch.Batch`` keeps
    them): counts, retry reasons and final failures with the server's answers."""
    retries = _tally(o["last_error"] for o in outcomes.values() if o["status"] == PENDING)
    failures = _tally(o["last_error"] for o in outcomes.values() if o["status"] == FAILED)
    text = (
        f"batch: {result.claimed} claimed, {result.sent} sent, {result.retrying} to retry, "
        f"{result.failed} failed, {result.skipped} skipped"
    )
    if retries:
        text += f" | retrying: {_named(retries)}"
    if failures:
        text += f" | failed: {_named(failures)}"
    fields = {
        "event": "delivery.batch",
        "claimed": result.claimed,
        "sent": result.sent,
        "retrying": result.retrying,
        "failed": result.failed,
        "skipped": result.skipped,
        "retry_reasons": dict(retries),
        "failure_answers": dict(failures),
    }
    return text, fields


def batch_done(batch) -> None:
    """Log one line for a saved batch (INFO; WARNING when any row failed) and count it in the
    metrics. ``batch``: a ``portal.notify.dispatch.Batch`` (``result``, ``outcomes``,
    ``rows``)."""
    text, fields = batch_line(batch.result, batch.outcomes)
    level = logging.WARNING if batch.result.failed else logging.INFO
    DELIVERY.log(level, text, extra={"fields": fields})
    counters.count_batch(batch)


def leases_taken_over(previous: dict[str | None, int]) -> None:
    """Log (WARNING) and count rows claimed again because their worker's lease ran out:
    ``previous`` maps the old worker's name to how many of its rows were taken over."""
    total = sum(previous.values())
    named = ", ".join(f"{n} from {worker or 'unknown'}" for worker, n in previous.items())
    DELIVERY.warning(
        "lease take-over: %d row(s) whose worker's lease ran out (%s); re-sent with the "
        "same Message-ID",
        total,
        named,
        extra={"fields": {"event": "delivery.takeover", "rows": total, "from": previous}},
    )
    counters.LEASE_TAKEOVERS.inc(total)
