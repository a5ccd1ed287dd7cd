"""Chasing silent tenants from the desk (issue #16 item 3): whom to write to, and a reminder
sent now rather than at the next scheduled offset.

An account manager filters the matrix (say "not acknowledged") and then sees each tenant's
notice contacts, copies every address of the filter at once, or sends the filter a reminder
now. A manual reminder goes to the notice contacts of the filtered tenants that were given
notice of the current revision and have not acknowledged it, at most once per tenant per
hour (``DESK_REMINDER_INTERVAL_SECONDS``); it says the real time left, is recorded in the
ledger with who asked, and is sent by the worker like any reminder (DESIGN.md "Delivery").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from portal.changes.models import SCHEDULED, Change
from portal.desk.matrix import CT, _row_query, acknowledged
from portal.desk.params import Listing
from portal.errors import Conflict
from portal.extensions import db
from portal.ledger.services import record
from portal.notify.models import REMINDER, OutboxMessage
from portal.notify.reminders import _reminder_rows
from portal.tenants.models import NoticeContact, Tenant

DEFAULT_INTERVAL_SECONDS = 3600


def filtered_addresses(change: Change, user, listing: Listing, limit: int = 5000) -> list[str]:
    """Every notice contact address of the tenants matching the matrix's filter and search
    (all pages), deduplicated, at most ``limit``; one statement."""
    tenants = _row_query(change, user, listing).with_only_columns(CT.tenant_id).subquery()
    rows = db.session.execute(
        select(NoticeContact.email)
        .where(NoticeContact.tenant_id.in_(select(tenants.c.tenant_id)))
        .order_by(NoticeContact.email)
        .limit(limit)
    ).scalars()
    return list(dict.fromkeys(e.strip().lower() for e in rows))


@dataclass(frozen=True)
class ReminderOutcome:
    """What "Send reminder now" did: tenants reminded and messages queued, and why others
    were left out (acknowledged already, notice not given yet, reminded within the hour)."""

    reminded: int
    messages: int
    acknowledged: int
    not_given: int
    recent: int


def interval_seconds() -> int:
    return int(current_app.config.get("DESK_REMINDER_INTERVAL_SECONDS", DEFAULT_INTERVAL_SECONDS))


def may_remind(change: Change, now: dt.datetime) -> bool:
    """Whether ``remind_now`` sends for ``change``: scheduled, its start still ahead."""
    return change.status == SCHEDULED and change.starts_at > now


def remind_now(change: Change, user, listing: Listing, *, now: dt.datetime) -> ReminderOutcome:
    """Queue a reminder now for the filtered tenants that still need one. Flushes; writes a
    ``change.reminder_requested`` ledger entry naming the user and the tenants.

    Raises ``Conflict`` unless the change is scheduled and its start is still ahead.
    """
    if not may_remind(change, now):
        raise Conflict("reminders go out only for a scheduled change before its start")
    candidates = _row_query(change, user, listing).with_only_columns(
        CT.tenant_id, CT.notice_given_at, acknowledged().label("acked")
    )
    rows = db.session.execute(candidates).all()
    acked = [r.tenant_id for r in rows if r.acked]
    not_given = [r.tenant_id for r in rows if not r.acked and r.notice_given_at is None]
    wanted = [r.tenant_id for r in rows if not r.acked and r.notice_given_at is not None]
    since = now - dt.timedelta(seconds=interval_seconds())
    recent = set()
    if wanted:
        recent = set(
            db.session.scalars(
                select(OutboxMessage.tenant_id)
                .where(
                    OutboxMessage.change_id == change.id,
                    OutboxMessage.kind == REMINDER,
                    OutboxMessage.created_at > since,
                    OutboxMessage.tenant_id.in_(wanted),
                )
                .distinct()
            )
        )
    targets = [t for t in wanted if t not in recent]
    messages = 0
    if targets:
        # The offset is the real time left (DESIGN.md "Delivery": a reminder states it), in
        # whole seconds; it also keeps each manual reminder a distinct outbox row.
        left = int((change.starts_at - now).total_seconds())
        messages = _reminder_rows(change, targets, left, now)
        slugs = db.session.scalars(
            select(Tenant.slug).where(Tenant.id.in_(targets)).order_by(Tenant.slug)
        ).all()
        record(
            "change.reminder_requested",
            subject_type="change",
            subject_id=change.id,
            change_id=change.id,
            actor=user,
            now=now,
            payload={
                "revision": change.revision_number,
                "tenants": slugs,
                "messages": messages,
                "filter": listing.filter or "",
                "search": listing.q or "",
            },
        )
    db.session.flush()
    return ReminderOutcome(len(targets), messages, len(acked), len(not_given), len(recent))
