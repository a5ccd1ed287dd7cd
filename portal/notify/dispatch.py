"""The dispatcher: claim due outbox rows, send them over one SMTP connection per batch, and
record each outcome (DESIGN.md "Delivery").

Claiming takes rows with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers
never take the same row; SQLite runs one worker. A claimed row carries a lease
(``claimed_until``): if its worker dies, the row is claimed again once the lease runs out and
re-sent with the same Message-ID. Equal notice (DESIGN.md "Proof") is part of the claim: a
first-party tenant's notice of a revision is not claimable while any third-party tenant's
notice of that revision is still waiting for its first attempt.

Outcomes of a batch are written in one transaction after the batch: a crash before that
commit loses nothing (the rows are re-sent), and throughput stays near a plain SMTP loop's.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import smtplib
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.notify import evidence
from portal.notify.models import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    SKIPPED,
    TENANT_NOTICE_KINDS,
    OutboxMessage,
)
from portal.notify.render import BadRecipient, build_message, load_context, message_id
from portal.notify.skips import rows_to_skip
from portal.notify.smtp import SmtpRefusal, smtp_connection, transmit

log = logging.getLogger(__name__)

MAX_RECONNECTS = 3  # a batch reopens a broken connection this often, then leaves the rest

OUTCOME_KEYS = ("id", "status", "attempts", "due_at", "claimed_until", "claimed_by",
                "message_id", "last_error", "smtp_reply", "sent_at", "failed_at")


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


def new_worker_id() -> str:
    """A name for this worker, recorded on the rows it claims."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def fair():
    """WHERE clause of equal notice (DESIGN.md "Proof"): a first-party tenant's notice waits
    while any third-party notice of the same revision has not had its first attempt."""
    other = aliased(OutboxMessage)
    third_party_waiting = exists().where(
        other.change_id == OutboxMessage.change_id,
        other.revision_number == OutboxMessage.revision_number,
        other.kind.in_(TENANT_NOTICE_KINDS),
        other.first_party.is_(False),
        other.attempts == 0,
        other.status.in_((PENDING, SENDING)),
    )
    return or_(OutboxMessage.first_party.is_(False),
               OutboxMessage.kind.not_in(TENANT_NOTICE_KINDS),
               ~third_party_waiting)


def expired_leases(now: dt.datetime):
    """Rows whose worker's lease ran out (it crashed or hung): claimable again."""
    return and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_until < now)


def due(now: dt.datetime):
    return and_(OutboxMessage.status == PENDING, OutboxMessage.due_at <= now)


def claimable(now: dt.datetime):
    """WHERE clause: due rows and rows of expired leases, within equal notice."""
    return and_(or_(due(now), expired_leases(now)), fair())


def _pick(where, limit: int) -> list[int]:
    # Ordered by due_at only, so the (status, due_at) index yields rows in order and the
    # LIMIT stops the scan early, however many rows are queued.
    return list(db.session.scalars(
        select(OutboxMessage.id).where(where, fair()).order_by(OutboxMessage.due_at)
        .limit(limit).with_for_update(skip_locked=True, of=OutboxMessage)))


def claim(now: dt.datetime, *, worker: str, limit: int) -> list[int]:
    """Claim up to ``limit`` due rows for ``worker`` and commit the claim; returns their ids."""
    lease = now + dt.timedelta(seconds=int(current_app.config["DISPATCH_LEASE_SECONDS"]))
    ids = _pick(expired_leases(now), limit)
    if len(ids) < limit:
        ids += _pick(due(now), limit - len(ids))
    if ids:
        db.session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids))
            .values(status=SENDING, claimed_until=lease, claimed_by=worker)
            .execution_options(synchronize_session=False))
    db.session.commit()
    return ids


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, then between half and all of it."""
    base = float(current_app.config["DELIVERY_RETRY_BASE_SECONDS"])
    cap = float(current_app.config["DELIVERY_RETRY_MAX_SECONDS"])
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (jitter, not security)


class Batch:
    """The outcomes of one batch, written together at the end."""

    def __init__(self, rows: list[OutboxMessage], now: Callable[[], dt.datetime]):
        self.rows = rows
        self.now = now
        self.outcomes: dict[int, dict] = {}
        self.result = DispatchResult(claimed=len(rows))
        self.max_attempts = int(current_app.config["DELIVERY_MAX_ATTEMPTS"])

    def _outcome(self, row: OutboxMessage, **values) -> None:
        base = {"id": row.id, "attempts": row.attempts + 1, "due_at": row.due_at,
                "claimed_until": None, "claimed_by": None, "message_id": message_id(row),
                "last_error": row.last_error, "smtp_reply": row.smtp_reply,
                "sent_at": row.sent_at, "failed_at": row.failed_at}
        base.update(values)
        self.outcomes[row.id] = base

    def sent(self, row: OutboxMessage, reply: str) -> None:
        self._outcome(row, status=SENT, smtp_reply=reply, sent_at=self.now(), last_error=None)
        self.result.sent += 1

    def failed(self, row: OutboxMessage, error: str, *, temporary: bool) -> None:
        attempts = row.attempts + 1
        at = self.now()
        if temporary and attempts < self.max_attempts:
            self._outcome(row, status=PENDING, last_error=error,
                          due_at=at + dt.timedelta(seconds=retry_delay(attempts)))
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


def send_batch(rows: list[OutboxMessage], now: Callable[[], dt.datetime]) -> DispatchResult:
    """Send ``rows`` over one connection (reopened once if it breaks) and save the outcomes."""
    batch = Batch(rows, now)
    skip = rows_to_skip(rows)
    todo = []
    for row in rows:
        if row.id in skip:
            batch.skipped(row, skip[row.id])
        else:
            todo.append(row)
    # Render every message first, then send them back to back: the connection is never left
    # idle while a template renders, which keeps throughput close to a plain SMTP loop.
    ctx = load_context(todo) if todo else None
    ready = [prepared for row in todo if (prepared := _prepare(batch, row, ctx)) is not None]
    index = 0
    breaks = 0
    while index < len(ready):
        start = index
        try:
            with smtp_connection() as conn:
                while index < len(ready):
                    row, msg, payload = ready[index]
                    index += 1
                    _transmit_one(batch, conn, row, msg, payload)
        except (OSError, smtplib.SMTPException) as exc:
            # The connection could not be opened, or broke while ``ready[index - 1]`` was sent.
            error = _error_text(exc)
            if index > start and ready[index - 1][0].id not in batch.outcomes:
                batch.failed(ready[index - 1][0], error, temporary=True)
            breaks += 1
            if index == start or breaks > MAX_RECONNECTS:
                for row, _msg, _payload in ready[index:]:
                    batch.failed(row, error, temporary=True)
                break
    batch.save()
    return batch.result


def _prepare(batch: Batch, row: OutboxMessage, ctx) -> tuple | None:
    """(row, message, bytes) ready to send, or None with the row's failure recorded."""
    try:
        msg = build_message(row, ctx)
        return row, msg, msg.as_bytes()
    except BadRecipient as exc:
        batch.failed(row, str(exc), temporary=False)
    except Exception as exc:  # a template or data error must not stop the other rows
        log.exception("could not render outbox row %s", row.id)
        batch.failed(row, f"could not render the message: {_error_text(exc)}", temporary=True)
    return None


def _transmit_one(batch: Batch, conn, row: OutboxMessage, msg, payload: bytes) -> None:
    try:
        reply = transmit(conn, msg, payload)
    except SmtpRefusal as exc:
        batch.failed(row, str(exc), temporary=exc.temporary)
        return
    batch.sent(row, reply)


def dispatch_due(*, now: Callable[[], dt.datetime], batch_size: int | None = None,
                 worker: str | None = None, max_batches: int | None = None,
                 progress: Callable[[int], None] | None = None) -> DispatchResult:
    """Claim and send batches until nothing is due (or ``max_batches``); commits per batch."""
    if current_app.extensions["mail"].suppress:
        raise DeliveryDisabled("MAIL_SUPPRESS_SEND is on (TESTING sets it): nothing would be "
                               "delivered, so the outbox is left as it is")
    batch_size = batch_size or int(current_app.config["DISPATCH_BATCH_SIZE"])
    worker = worker or new_worker_id()
    total = DispatchResult()
    batches = 0
    while max_batches is None or batches < max_batches:
        ids = claim(now(), worker=worker, limit=batch_size)
        if not ids:
            break
        rows = list(db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(
                OutboxMessage.due_at, OutboxMessage.id)))
        total += send_batch(rows, now)
        batches += 1
        if progress is not None:
            progress(len(ids))
    return total


def due_count(now: dt.datetime) -> int:
    """How many rows are due now (for the progress bar; equal notice may hold some back)."""
    from sqlalchemy import func

    return db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        or_(and_(OutboxMessage.status == PENDING, OutboxMessage.due_at <= now),
            and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_until < now)))) or 0
