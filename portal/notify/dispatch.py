"""The dispatcher: claim due outbox rows, send them over one SMTP connection per batch, and
record each outcome (DESIGN.md "Delivery").

Rows are claimed by ``portal.notify.claims`` (leases, ``SKIP LOCKED``, equal notice).

Outcomes of a batch are written in one transaction after the batch: a crash before that
commit loses nothing (the rows are re-sent). A sender process (``portal.notify.sender``) does
the SMTP conversation of one batch while this process, the only one using the database, saves
the previous batch and claims and renders the next, so throughput stays near a plain SMTP
loop's. A process rather than a thread: a thread would wait for the interpreter after each
SMTP reply, up to Python's 5 ms switch interval, longer than the reply took; a process waits
for no one, and the interpreter's settings stay as they are (issue #19).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections import Counter, namedtuple
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from flask import current_app
from sqlalchemy import select, update

from portal.extensions import db
from portal.notify import evidence
from portal.notify.claims import claim, lease_seconds, new_worker_id, refresh_statistics, renew
from portal.notify.models import (
    FAILED,
    PENDING,
    SENT,
    SKIPPED,
    OutboxMessage,
)
from portal.notify.render import BadRecipient, build_message, load_context, message_id
from portal.notify.sender import Outgoing, Sender, leased_sender, mail_settings
from portal.notify.sending import ConnectionLost, error_text
from portal.notify.skips import rows_to_skip
from portal.notify.smtp import Envelope, SmtpRefusal
from portal.ops.logs import batch_done

log = logging.getLogger(__name__)

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
    """What one dispatch run (or one batch) did, for reports, logs and metrics.

    ``claimed``: rows taken; ``taken_over``: of those, rows whose previous worker's lease had
    run out; ``sent``: accepted by the server; ``retrying``: temporary failures scheduled
    again, with ``retry_reasons`` counting each answer text; ``failed``: final failures, with
    ``failure_answers`` counting each answer text; ``skipped``: reminders no longer needed;
    ``lease_lost``: rows this worker gave up because another took them over (not sent by it).
    """

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    skipped: int = 0
    taken_over: int = 0
    lease_lost: int = 0
    retry_reasons: Counter = field(default_factory=Counter)
    failure_answers: Counter = field(default_factory=Counter)

    COUNTS = ("claimed", "sent", "failed", "retrying", "skipped", "taken_over", "lease_lost")

    def __iadd__(self, other: DispatchResult) -> DispatchResult:
        for name in self.COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.retry_reasons.update(other.retry_reasons)
        self.failure_answers.update(other.failure_answers)
        return self


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter, in seconds: base·2^(n-1) capped at
    ``DELIVERY_RETRY_MAX_SECONDS``, then between half and all of it."""
    base = float(current_app.config["DELIVERY_RETRY_BASE_SECONDS"])
    cap = float(current_app.config["DELIVERY_RETRY_MAX_SECONDS"])
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (jitter, not security)


def next_attempt(*, queued_at: dt.datetime, attempts: int, at: dt.datetime) -> dt.datetime | None:
    """When to try again after a temporary failure at ``at`` (UTC), or None when the row has
    to fail now. Retries are bounded by a duration, as a mail server's queue lifetime is
    (DESIGN.md "Delivery"): ``DELIVERY_RETRY_SECONDS`` (default 24 h) from ``queued_at``; the
    last try falls on that deadline. ``DELIVERY_MAX_ATTEMPTS``, when set (default None), also
    bounds the number of attempts."""
    cap = current_app.config.get("DELIVERY_MAX_ATTEMPTS")
    if cap and attempts >= int(cap):
        return None
    deadline = queued_at + dt.timedelta(seconds=float(current_app.config["DELIVERY_RETRY_SECONDS"]))
    if at >= deadline:
        return None
    return min(deadline, at + dt.timedelta(seconds=retry_delay(attempts)))


if TYPE_CHECKING:

    class RowValues(OutboxMessage):
        """What a type checker sees of a snapshot: the row's column attributes (mypy cannot
        follow a namedtuple whose fields come from the mapper)."""

        _fields: ClassVar[tuple[str, ...]]

        def __init__(self, *values: Any) -> None: ...

else:
    RowValues = namedtuple("RowValues", [a.key for a in OutboxMessage.__mapper__.column_attrs])


def snapshot(row: OutboxMessage) -> RowValues:
    """The row's column values, readable after its ORM object has been expired (read from
    the loaded state where present: a batch snapshots 200 rows of 22 columns)."""
    loaded = row.__dict__
    return RowValues(
        *(loaded[key] if key in loaded else getattr(row, key) for key in RowValues._fields)
    )


class Batch:
    """The outcomes of one batch, written together at the end."""

    def __init__(self, rows: Sequence[OutboxMessage], now: Callable[[], dt.datetime]):
        self.rows = rows
        self.now = now
        self.outcomes: dict[int, dict] = {}
        self.result = DispatchResult(claimed=len(rows))

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
        again = (
            next_attempt(queued_at=row.created_at, attempts=attempts, at=at) if temporary else None
        )
        if again is not None:
            self._outcome(row, status=PENDING, last_error=error, due_at=again)
            self.result.retrying += 1
            self.result.retry_reasons[error] += 1
        else:
            self._outcome(row, status=FAILED, last_error=error, failed_at=at)
            self.result.failed += 1
            self.result.failure_answers[error] += 1

    def skipped(self, row: OutboxMessage, why: str) -> None:
        self._outcome(row, status=SKIPPED, last_error=why, attempts=row.attempts)
        self.result.skipped += 1

    def forget(self, lost: set[int]) -> None:
        """Drop the outcomes of rows another worker took over: they are its rows now."""
        for oid in lost & set(self.outcomes):
            outcome = self.outcomes.pop(oid)
            if outcome["status"] == SENT:
                self.result.sent -= 1
            elif outcome["status"] == FAILED:
                self.result.failed -= 1
                self.result.failure_answers[outcome["last_error"]] -= 1
            elif outcome["status"] == SKIPPED:
                self.result.skipped -= 1
            else:
                self.result.retrying -= 1
                self.result.retry_reasons[outcome["last_error"]] -= 1
        self.result.retry_reasons = +self.result.retry_reasons
        self.result.failure_answers = +self.result.failure_answers
        self.result.lease_lost += len(lost)

    def save(self) -> None:
        """Write every outcome, then notice-given times and ledger evidence; commit."""
        if self.outcomes:
            values = [{k: o[k] for k in OUTCOME_KEYS} for o in self.outcomes.values()]
            db.session.execute(update(OutboxMessage), values)
        evidence.record_batch(self.rows, self.outcomes, now=self.now())
        db.session.commit()


class Shipment:
    """One claimed batch: rendered here, sent by the sender process, its outcomes recorded and
    saved back here."""

    def __init__(self, rows: list[OutboxMessage], now: Callable[[], dt.datetime], worker: str = ""):
        self.worker = worker
        self.ids = {row.id for row in rows}
        self.lost: set[int] = set()  # taken over by another worker: not ours to send or record
        # Until when the claim (or the last renewal) holds for certain: before then no other
        # worker can have taken a row over, so no renewal or check is needed.
        self.lease_until = now() + dt.timedelta(seconds=lease_seconds())
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
        self.values = values
        self.ready = [
            envelope
            for row in todo
            if (envelope := _prepare(self.batch, values[row.id], row, ctx)) is not None
        ]
        self.outgoing: Outgoing | None = None
        self.anchor: tuple[dt.datetime, float] | None = None

    def renew(self) -> None:
        """Renew the lease on the rows still held; note those another worker took over."""
        if self.worker:
            at = self.now()
            held = renew(self.ids - self.lost, worker=self.worker, now=at)
            newly_lost = self.ids - held - self.lost
            self.lost |= newly_lost
            if newly_lost and self.outgoing is not None:
                self.outgoing.forget(newly_lost)  # the sender process skips them
            self.lease_until = at + dt.timedelta(seconds=lease_seconds())

    def renew_if_old(self, fraction: float) -> None:
        """Renew when less than ``fraction`` of a lease is left (a commit saved otherwise)."""
        left = (self.lease_until - self.now()).total_seconds()
        if left < fraction * lease_seconds():
            self.renew()

    def start(self, sender: Sender, settings: dict[str, Any]) -> None:
        """Hand the rendered messages still held to ``sender`` (``settings``: the connection's,
        ``portal.notify.sender.mail_settings()``)."""
        self.renew_if_old(2 / 3)  # it may have waited behind the previous batch
        # The sender process reads time.monotonic() too: the clock is system-wide (sender.py).
        self.anchor = (self.now(), time.monotonic())
        self.outgoing = sender.start([e for e in self.ready if e.id not in self.lost], settings)

    def finish(self, also_held: tuple[Shipment, ...] = ()) -> DispatchResult:
        """Wait for the sender process (renewing leases), record each answer at its time on
        the portal clock, save the outcomes of the rows still held."""
        events = wait_renewing(self.outgoing, (self, *also_held)) if self.outgoing else []
        # Events come only after start(), which set the anchor; ``at`` is called per event.
        at: Callable[[float], dt.datetime] = (
            clock_times(self.anchor, (self.now(), time.monotonic()))  # type: ignore[arg-type]
            if events
            else None  # type: ignore[assignment]
        )
        for oid, answer, mono in events:
            row = self.values[oid]
            if isinstance(answer, SmtpRefusal):
                self.batch.failed(row, str(answer), temporary=answer.temporary, at=at(mono))
            elif isinstance(answer, ConnectionLost):
                self.batch.failed(row, str(answer), temporary=True, at=at(mono))
            else:
                self.batch.sent(row, answer, at=at(mono))
        self.renew_if_old(1 / 3)  # the rows still held stay held until the save commits
        if self.lost:
            self.batch.forget(self.lost)
        self.batch.save()
        batch_done(self.batch)  # one log line, and the delivery counters
        return self.batch.result


class Pending(Protocol):
    """What ``wait_renewing`` waits on: a ``concurrent.futures.Future``-like ``result``."""

    def result(self, timeout: float | None = None) -> Any:
        """The outcome; raises ``concurrent.futures.TimeoutError`` after ``timeout`` s."""


def wait_renewing(future: Pending, holders: tuple[Shipment, ...]):
    """``future.result()``, renewing the leases of ``holders``' rows every third of a lease
    while it runs (DESIGN.md "Delivery": a lease is renewed while its batch is in hand)."""
    interval = max(0.5, lease_seconds() / 3)
    while True:
        try:
            return future.result(timeout=interval)
        except FutureTimeout:
            for shipment in holders:
                shipment.renew()


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


def _prepare(batch: Batch, values: RowValues, row: OutboxMessage, ctx) -> Envelope | None:
    """The row's message rendered into an envelope ready to send, or None with the row's
    failure recorded."""
    try:
        return Envelope.of(row.id, build_message(row, ctx))
    except BadRecipient as exc:
        batch.failed(values, str(exc), temporary=False)
    except Exception as exc:  # a template or data error must not stop the other rows
        log.exception("could not render outbox row %s", row.id)
        batch.failed(values, f"could not render the message: {error_text(exc)}", temporary=True)
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

    One worker, one database connection, and one SMTP connection at a time: a sender process
    (``portal.notify.sender``, leased from this process's pool for the run) sends batch n
    while this process saves batch n-1's outcomes and claims and renders batch n+1, so the
    database and template work happens while the SMTP server answers.
    """
    if current_app.extensions["mail"].suppress:
        raise DeliveryDisabled(
            "MAIL_SUPPRESS_SEND is on (TESTING sets it): nothing would be "
            "delivered, so the outbox is left as it is"
        )
    batch_size = batch_size or int(current_app.config["DISPATCH_BATCH_SIZE"])
    worker = worker or new_worker_id()
    settings = mail_settings()
    total = DispatchResult()
    batches = 0
    inflight: Shipment | None = None

    def finish(shipment: Shipment, *also_held: Shipment) -> None:
        nonlocal total
        total += shipment.finish(also_held)
        if progress is not None:
            progress(shipment.batch.result.claimed)

    refresh_statistics(now())
    with leased_sender() as sender:
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
            shipment = Shipment(rows, now, worker)
            shipment.batch.result.taken_over = ids.taken_over
            batches += 1
            if inflight is not None:
                # One SMTP connection at a time; both batches' leases renewed meanwhile.
                # started (start() set its outgoing)
                wait_renewing(inflight.outgoing, (inflight, shipment))  # type: ignore[arg-type]
            shipment.start(sender, settings)
            if inflight is not None:
                finish(inflight, shipment)
            inflight = shipment
        if inflight is not None:
            finish(inflight)
    return total
