"""The dispatcher: claim due outbox rows, send them over one SMTP connection per batch, and
record each outcome (DESIGN.md "Delivery").

Rows are claimed by ``portal.notify.claims`` (leases, ``SKIP LOCKED``, equal notice).

Outcomes of a batch are written in one transaction after the batch: a crash before that
commit loses nothing (the rows are re-sent). A sender thread does the SMTP conversation of one
batch while the main thread, the only one using the database, saves the previous batch and
claims and renders the next, so throughput stays near a plain SMTP loop's.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import smtplib
import socket
import sys
import threading
import time
from collections import namedtuple
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, update

from portal.extensions import db
from portal.notify import evidence
from portal.notify.claims import claim, new_worker_id, refresh_statistics
from portal.notify.models import (
    FAILED,
    PENDING,
    SENT,
    SKIPPED,
    OutboxMessage,
)
from portal.notify.render import BadRecipient, build_message, load_context, message_id
from portal.notify.skips import rows_to_skip
from portal.notify.smtp import SmtpRefusal, smtp_connection, transmit
from portal.ops.logs import batch_done

log = logging.getLogger(__name__)

MAX_RECONNECTS = 3  # a batch reopens a broken connection this often, then leaves the rest

OUTCOME_KEYS = (
    "id",
    "status",
    "attempts",
    "due_at",
    "claimed_until",
    "claimed_by",
    "message_id",
    "last_error",
    "smtp_reply",
    "sent_at",
    "failed_at",
)


class DeliveryDisabled(RuntimeError):
    """MAIL_SUPPRESS_SEND is on: nothing would reach a server, so nothing is dispatched."""


@dataclass
class DispatchResult:
    """Counts of one dispatch run (or one batch)."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    skipped: int = 0

    def __iadd__(self, other: DispatchResult) -> DispatchResult:
        for name in ("claimed", "sent", "failed", "retrying", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, then between half and all of it."""
    base = float(current_app.config["DELIVERY_RETRY_BASE_SECONDS"])
    cap = float(current_app.config["DELIVERY_RETRY_MAX_SECONDS"])
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (jitter, not security)


RowValues = namedtuple("RowValues", [a.key for a in OutboxMessage.__mapper__.column_attrs])


def snapshot(row: OutboxMessage) -> RowValues:
    """The row's column values, readable after its ORM object has been expired."""
    return RowValues(*(getattr(row, key) for key in RowValues._fields))


class Batch:
    """The outcomes of one batch, written together at the end."""

    def __init__(self, rows: list[OutboxMessage], now: Callable[[], dt.datetime]):
        self.rows = rows
        self.now = now
        self.outcomes: dict[int, dict] = {}
        self.result = DispatchResult(claimed=len(rows))
        self.max_attempts = int(current_app.config["DELIVERY_MAX_ATTEMPTS"])

    def _outcome(self, row: OutboxMessage, **values) -> None:
        base = {
            "id": row.id,
            "attempts": row.attempts + 1,
            "due_at": row.due_at,
            "claimed_until": None,
            "claimed_by": None,
            "message_id": message_id(row),
            "last_error": row.last_error,
            "smtp_reply": row.smtp_reply,
            "sent_at": row.sent_at,
            "failed_at": row.failed_at,
        }
        base.update(values)
        self.outcomes[row.id] = base

    def sent(self, row: OutboxMessage, reply: str, at: dt.datetime | None = None) -> None:
        self._outcome(row, status=SENT, smtp_reply=reply, sent_at=at or self.now(), last_error=None)
        self.result.sent += 1

    def failed(
        self, row: OutboxMessage, error: str, *, temporary: bool, at: dt.datetime | None = None
    ) -> None:
        attempts = row.attempts + 1
        at = at or self.now()
        if temporary and attempts < self.max_attempts:
            self._outcome(
                row,
                status=PENDING,
                last_error=error,
                due_at=at + dt.timedelta(seconds=retry_delay(attempts)),
            )
            self.result.retrying += 1
        else:
            self._outcome(row, status=FAILED, last_error=error, failed_at=at)
            self.result.failed += 1

    def skipped(self, row: OutboxMessage, why: str) -> None:
        self._outcome(row, status=SKIPPED, last_error=why, attempts=row.attempts)
        self.result.skipped += 1

    def save(self) -> None:
        """Write every outcome, then notice-given times and ledger evidence; commit."""
        if self.outcomes:
            values = [{k: o[k] for k in OUTCOME_KEYS} for o in self.outcomes.values()]
            db.session.execute(update(OutboxMessage), values)
        evidence.record_batch(self.rows, self.outcomes, now=self.now())
        db.session.commit()


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, SmtpRefusal):
        return str(exc)
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out waiting for the mail server"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused by the mail server"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


class ConnectionLost(Exception):
    """The connection could not be opened or broke while this message was being sent."""


def ship(ready: list[tuple]) -> list[tuple]:
    """Send ``ready`` ((row, message, bytes) each) over one connection, reopened if it breaks;
    returns one (row, answer, monotonic time) per message: the server's reply to DATA, or the
    SmtpRefusal / ConnectionLost. Touches no database, so it can run beside the next batch."""
    events: list[tuple] = []
    done: set[int] = set()
    index = 0
    breaks = 0
    while index < len(ready):
        start = index
        try:
            with smtp_connection() as conn:
                while index < len(ready):
                    row, msg, payload = ready[index]
                    index += 1
                    try:
                        answer = transmit(conn, msg, payload)
                    except SmtpRefusal as exc:
                        answer = exc
                    events.append((row, answer, time.monotonic()))
                    done.add(index - 1)
        except (OSError, smtplib.SMTPException) as exc:
            # The connection could not be opened, or broke while ``ready[index - 1]`` was sent.
            lost = ConnectionLost(_error_text(exc))
            if index > start and index - 1 not in done:
                events.append((ready[index - 1][0], lost, time.monotonic()))
            breaks += 1
            if index == start or breaks > MAX_RECONNECTS:
                events += [(row, lost, time.monotonic()) for row, _m, _p in ready[index:]]
                break
    return events


class Shipment:
    """One claimed batch: rendered in the main thread, sent by the sender thread, its outcomes
    recorded and saved back in the main thread."""

    def __init__(self, rows: list[OutboxMessage], now: Callable[[], dt.datetime]):
        # The outcomes are recorded after the next batch's claim has committed (which expires
        # ORM objects): they work from a snapshot of each row's columns taken now.
        values = {row.id: snapshot(row) for row in rows}
        self.batch = Batch(list(values.values()), now)
        self.now = now
        skip = rows_to_skip(rows)
        todo = []
        for row in rows:
            if row.id in skip:
                self.batch.skipped(values[row.id], skip[row.id])
            else:
                todo.append(row)
        ctx = load_context(todo) if todo else None
        self.ready = [
            (values[row.id], *p)
            for row in todo
            if (p := _prepare(self.batch, values[row.id], row, ctx)) is not None
        ]
        self.future: Future | None = None
        self.anchor: tuple[dt.datetime, float] | None = None

    def start(self, sender: ThreadPoolExecutor, app) -> None:
        self.anchor = (self.now(), time.monotonic())
        self.future = sender.submit(_in_app, app, ship, self.ready)

    def finish(self) -> DispatchResult:
        """Wait for the sender, record each answer at its time on the portal clock, save."""
        events = self.future.result() if self.future is not None else []
        at = clock_times(self.anchor, (self.now(), time.monotonic())) if events else None
        for row, answer, mono in events:
            if isinstance(answer, SmtpRefusal):
                self.batch.failed(row, str(answer), temporary=answer.temporary, at=at(mono))
            elif isinstance(answer, ConnectionLost):
                self.batch.failed(row, str(answer), temporary=True, at=at(mono))
            else:
                self.batch.sent(row, answer, at=at(mono))
        self.batch.save()
        batch_done(self.batch)  # one log line, and the delivery counters
        return self.batch.result


def clock_times(
    first: tuple[dt.datetime, float], last: tuple[dt.datetime, float]
) -> Callable[[float], dt.datetime]:
    """Portal-clock time of a ``time.monotonic()`` reading taken between two (clock, monotonic)
    anchors: linear between them, so a real clock gives each answer's own time and a frozen
    (test) clock gives exactly its time; never before the first anchor nor after the last."""
    (at0, m0), (at1, m1) = first, last
    span = m1 - m0
    if span <= 0 or at1 <= at0:
        return lambda _mono: at0 if at1 <= at0 else at1
    scale = (at1 - at0) / span
    return lambda mono: min(at1, at0 + scale * max(0.0, mono - m0))


_switches = {"runs": 0, "before": 0.005}
_switches_lock = threading.Lock()


@contextmanager
def prompt_thread_switches(interval: float = 0.00001):
    """While batches are sent, let the sender thread take the GIL back soon after each server
    reply arrives (the default 5 ms switch interval would leave it waiting behind the main
    thread's rendering for longer than the reply took). The setting is process-wide: the
    first of overlapping runs (e.g. the demo's worker thread) lowers it, the last restores it."""
    with _switches_lock:
        if _switches["runs"] == 0:
            _switches["before"] = sys.getswitchinterval()
            sys.setswitchinterval(min(_switches["before"], interval))
        _switches["runs"] += 1
    try:
        yield
    finally:
        with _switches_lock:
            _switches["runs"] -= 1
            if _switches["runs"] == 0:
                sys.setswitchinterval(_switches["before"])


def _in_app(app, func, *args):
    with app.app_context():  # the connection reads the mail settings; no database here
        return func(*args)


def _prepare(batch: Batch, values: RowValues, row: OutboxMessage, ctx) -> tuple | None:
    """(message, bytes) ready to send, or None with the row's failure recorded."""
    try:
        msg = build_message(row, ctx)
        return msg, msg.as_bytes()
    except BadRecipient as exc:
        batch.failed(values, str(exc), temporary=False)
    except Exception as exc:  # a template or data error must not stop the other rows
        log.exception("could not render outbox row %s", row.id)
        batch.failed(values, f"could not render the message: {_error_text(exc)}", temporary=True)
    return None


def dispatch_due(
    *,
    now: Callable[[], dt.datetime],
    batch_size: int | None = None,
    worker: str | None = None,
    max_batches: int | None = None,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DispatchResult:
    """Claim and send batches until nothing is due (or ``max_batches``, or ``should_stop()``
    says so between batches); commits per batch.

    One worker, one database connection, and one SMTP connection at a time: a sender thread
    sends batch n while this thread saves batch n-1's outcomes and claims and renders batch
    n+1, so the database and template work happens while the SMTP server answers.
    """
    if current_app.extensions["mail"].suppress:
        raise DeliveryDisabled(
            "MAIL_SUPPRESS_SEND is on (TESTING sets it): nothing would be "
            "delivered, so the outbox is left as it is"
        )
    batch_size = batch_size or int(current_app.config["DISPATCH_BATCH_SIZE"])
    worker = worker or new_worker_id()
    app = current_app._get_current_object()
    total = DispatchResult()
    batches = 0
    inflight: Shipment | None = None

    def finish(shipment: Shipment) -> None:
        nonlocal total
        total += shipment.finish()
        if progress is not None:
            progress(shipment.batch.result.claimed)

    refresh_statistics(now())
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp") as sender,
        prompt_thread_switches(),
    ):
        while (max_batches is None or batches < max_batches) and not (
            should_stop is not None and should_stop()
        ):
            ids = claim(now(), worker=worker, limit=batch_size)
            if not ids:
                if inflight is None:
                    break
                # Its outcomes may make more rows claimable (equal notice): save, look again.
                finish(inflight)
                inflight = None
                continue
            rows = list(
                db.session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.id.in_(ids))
                    .order_by(OutboxMessage.due_at, OutboxMessage.id)
                )
            )
            shipment = Shipment(rows, now)
            batches += 1
            if inflight is not None:
                inflight.future.result()  # one SMTP connection at a time
            shipment.start(sender, app)
            if inflight is not None:
                finish(inflight)
            inflight = shipment
        if inflight is not None:
            finish(inflight)
    return total
