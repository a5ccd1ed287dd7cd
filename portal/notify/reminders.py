"""Reminders before the start, and the escalation to account managers (DESIGN.md "Delivery").

At each offset of ``REMINDER_OFFSETS_HOURS`` before a scheduled change's start (default 72 h
and 24 h), every active affected tenant that has not acknowledged gets a reminder at its
notice contacts. A ``ReminderRun`` row per (change, tenant, offset) makes each reminder go out
once, whatever the workers or later revisions do. At the last offset, for changes that require
acknowledgement, the account managers of the still-silent tenants get an escalation. Offsets
that had already passed when the change was published are not sent (the notice itself is that
message). Reminders are optional mail: they carry List-Unsubscribe, and an address that
unsubscribed gets none.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import and_, exists, func, insert, literal, not_, select, text

from portal.acks.services import acknowledged_tenant_ids
from portal.changes.models import SCHEDULED, Change, ChangeTenant
from portal.extensions import db
from portal.ledger.services import Fact, record_many
from portal.notify.models import (
    ESCALATION,
    PENDING,
    REMINDER,
    OutboxMessage,
    ReminderOptOut,
    ReminderRun,
)
from portal.sqltypes import UTCDateTime
from portal.tenants.models import AccountManagerAssignment, NoticeContact, Tenant

# Any fixed number: the advisory lock that keeps two PostgreSQL workers from queueing the same
# reminders at once (the unique keys would refuse the second anyway).
ADVISORY_LOCK = 40_404


def offsets_seconds() -> list[int]:
    """Configured offsets, largest first, in seconds."""
    hours = current_app.config.get("REMINDER_OFFSETS_HOURS") or []
    return sorted({int(float(h) * 3600) for h in hours if float(h) > 0}, reverse=True)


def _lock() -> bool:
    if db.engine.dialect.name != "postgresql":
        return True
    return bool(
        db.session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK})
    )


def queue_due_reminders(now: dt.datetime) -> int:
    """Queue every reminder (and escalation) now due; returns the rows written. Flushes."""
    offsets = offsets_seconds()
    if not offsets or not _lock():
        return 0
    horizon = now + dt.timedelta(seconds=offsets[0])
    changes = db.session.scalars(
        select(Change).where(
            Change.status == SCHEDULED, Change.starts_at > now, Change.starts_at <= horizon
        )
    )
    written = 0
    for change in changes:
        for offset in offsets:
            remind_at = change.starts_at - dt.timedelta(seconds=offset)
            if remind_at > now or (change.published_at and remind_at < change.published_at):
                continue
            written += _queue(change, offset, last=offset == offsets[-1], now=now)
    return written


def _queue(change: Change, offset: int, *, last: bool, now: dt.datetime) -> int:
    """Reminders at ``offset`` for the change's silent tenants that have had none yet."""
    acked = acknowledged_tenant_ids(change.id)
    silent = [
        tid
        for tid in db.session.scalars(
            select(ChangeTenant.tenant_id).where(
                ChangeTenant.change_id == change.id,
                ChangeTenant.active.is_(True),
                ~exists().where(
                    ReminderRun.change_id == change.id,
                    ReminderRun.tenant_id == ChangeTenant.tenant_id,
                    ReminderRun.offset_seconds == offset,
                ),
            )
        )
        if tid not in acked
    ]
    if not silent:
        return 0
    escalate = last and change.ack_required
    written = 0
    for chunk_start in range(0, len(silent), 500):
        chunk = silent[chunk_start : chunk_start + 500]
        written += _reminder_rows(change, chunk, offset, now)
        if escalate:
            written += _escalation_rows(change, chunk, offset, now)
        db.session.execute(
            insert(ReminderRun),
            [
                {
                    "change_id": change.id,
                    "tenant_id": tid,
                    "offset_seconds": offset,
                    "escalated": escalate,
                    "queued_at": now,
                }
                for tid in chunk
            ],
        )
    record_many(
        [
            Fact(
                "reminder.queued",
                "change",
                change.id,
                {
                    "offset_seconds": offset,
                    "tenants": len(silent),
                    "escalated": escalate,
                    "revision": change.revision_number,
                },
                change_id=change.id,
            )
        ],
        actor="dispatcher",
        now=now,
    )
    db.session.flush()
    return written


def _constants(change: Change, kind: str, offset: int, now: dt.datetime) -> list:
    return [
        literal(change.id),
        literal(change.revision_number),
        literal(kind),
        literal(offset),
        literal(""),
        literal(PENDING),
        literal(0),
        literal(now, UTCDateTime),
        literal(now, UTCDateTime),
    ]


COLUMNS = [
    "change_id",
    "revision_number",
    "kind",
    "offset_seconds",
    "note",
    "status",
    "attempts",
    "due_at",
    "created_at",
    "tenant_id",
    "recipient",
    "recipient_name",
    "first_party",
]


def _insert(query) -> int:
    """INSERT INTO outbox_messages SELECT …; the number of rows written."""
    return db.session.execute(
        insert(OutboxMessage).from_select(COLUMNS, query).execution_options(preserve_rowcount=True)
    ).rowcount


def _reminder_rows(change: Change, tenant_ids: list[int], offset: int, now: dt.datetime) -> int:
    opted_out = exists().where(
        ReminderOptOut.tenant_id == NoticeContact.tenant_id,
        ReminderOptOut.email == func.lower(NoticeContact.email),
    )
    q = (
        select(
            *_constants(change, REMINDER, offset, now),
            NoticeContact.tenant_id,
            func.lower(NoticeContact.email),
            NoticeContact.name,
            Tenant.first_party,
        )
        .join(Tenant, Tenant.id == NoticeContact.tenant_id)
        .where(NoticeContact.tenant_id.in_(tenant_ids), not_(opted_out))
    )
    return _insert(q)


def _escalation_rows(change: Change, tenant_ids: list[int], offset: int, now: dt.datetime) -> int:
    from portal.auth.models import User

    q = (
        select(
            *_constants(change, ESCALATION, offset, now),
            AccountManagerAssignment.tenant_id,
            func.lower(User.email),
            User.name,
            Tenant.first_party,
        )
        .join(User, User.id == AccountManagerAssignment.user_id)
        .join(Tenant, Tenant.id == AccountManagerAssignment.tenant_id)
        .where(and_(AccountManagerAssignment.tenant_id.in_(tenant_ids), User.active.is_(True)))
    )
    return _insert(q)
