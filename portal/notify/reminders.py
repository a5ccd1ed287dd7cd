"""Reminders before the start, and the escalation to account managers (DESIGN.md "Delivery").

At each offset of ``REMINDER_OFFSETS_HOURS`` before a scheduled change's start (default 72 h
and 24 h), every active affected tenant that has not acknowledged gets a reminder at its
notice contacts. A ``ReminderRun`` row per (change, tenant, offset) makes each reminder go out
once, whatever the workers do; a postponement re-arms the offsets still ahead (``re_arm``).
When several offsets are due at once (a worker outage, a clock jump) only the nearest goes,
and it states the real time left (rendered at sending). No reminder goes before the tenant's
notice of the current revision was given; an offset that passed before it is not sent (the
notice itself is that message). At the last offset, for changes that require
acknowledgement, the account managers of the still-silent tenants get an escalation.
Reminders are optional mail: they carry List-Unsubscribe, and an address that unsubscribed
gets none.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import and_, delete, exists, func, insert, literal, not_, select, text

from portal.acks.services import acknowledged_tenant_ids
from portal.auth.models import User
from portal.changes.models import SCHEDULED, Change, ChangeTenant
from portal.extensions import db, rows_affected
from portal.ledger.services import Fact, record_many
from portal.notify.failures import queue_failure_alerts
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
    """Queue every reminder (and escalation) now due, and the alerts about notices that
    finally failed (``portal.notify.failures``); returns the rows written. Flushes."""
    if not _lock():
        return 0

    written = queue_failure_alerts(now)
    offsets = offsets_seconds()
    if not offsets:
        return written
    horizon = now + dt.timedelta(seconds=offsets[0])
    changes = db.session.scalars(
        select(Change).where(
            Change.status == SCHEDULED, Change.starts_at > now, Change.starts_at <= horizon
        )
    )
    for change in changes:
        due = [o for o in offsets if change.starts_at - dt.timedelta(seconds=o) <= now]
        if not due:
            continue
        # Several offsets due at once (a worker outage, a clock jump): only the nearest goes.
        nearest = min(due)
        remind_at = change.starts_at - dt.timedelta(seconds=nearest)
        written += _queue(change, nearest, remind_at, last=nearest == offsets[-1], now=now)
    return written


def _queue(
    change: Change, offset: int, remind_at: dt.datetime, *, last: bool, now: dt.datetime
) -> int:
    """Reminders at ``offset`` for the change's silent tenants that have had none yet and
    whose notice of the current revision was given before ``remind_at`` (the notice itself
    is the message when it came later)."""
    acked = acknowledged_tenant_ids(change.id)
    silent = [
        tid
        for tid in db.session.scalars(
            select(ChangeTenant.tenant_id).where(
                ChangeTenant.change_id == change.id,
                ChangeTenant.active.is_(True),
                ChangeTenant.notice_given_at.is_not(None),
                ChangeTenant.notice_given_at <= remind_at,
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


def re_arm(change: Change, now: dt.datetime) -> None:
    """After a postponement, reminders whose time under the new start is still ahead are
    armed again (DESIGN.md "Delivery"); the outbox rows and ledger keep the earlier ones."""
    ahead = [o for o in offsets_seconds() if change.starts_at - dt.timedelta(seconds=o) > now]
    if ahead:
        db.session.execute(
            delete(ReminderRun).where(
                ReminderRun.change_id == change.id, ReminderRun.offset_seconds.in_(ahead)
            )
        )


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
    return rows_affected(
        insert(OutboxMessage).from_select(COLUMNS, query).execution_options(preserve_rowcount=True)
    )


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
