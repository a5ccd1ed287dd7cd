"""Reminders and escalations that are no longer needed when their turn comes.

A reminder or escalation is queued ahead of time; by the time a worker claims it the tenant may
have acknowledged, the change may have been cancelled or started, or the address may have
unsubscribed from reminders. Such rows are marked skipped (with the reason), never sent.
"""

from __future__ import annotations

from sqlalchemy import select

from portal.acks.services import acknowledged_tenant_ids
from portal.changes.models import SCHEDULED, Change
from portal.extensions import db
from portal.notify.models import ESCALATION, REMINDER, OutboxMessage, ReminderOptOut


def rows_to_skip(rows: list[OutboxMessage]) -> dict[int, str]:
    """{row id: why} for the reminder and escalation rows of ``rows`` not to send."""
    chasing = [r for r in rows if r.kind in (REMINDER, ESCALATION)]
    if not chasing:
        return {}
    change_ids = {r.change_id for r in chasing}
    status = dict(
        db.session.execute(select(Change.id, Change.status).where(Change.id.in_(change_ids))).all()
    )
    acked = {cid: acknowledged_tenant_ids(cid) for cid in change_ids}
    opted_out = set(
        db.session.execute(
            select(ReminderOptOut.tenant_id, ReminderOptOut.email).where(
                ReminderOptOut.tenant_id.in_({r.tenant_id for r in chasing})
            )
        ).all()
    )
    skip = {}
    for row in chasing:
        if status.get(row.change_id) != SCHEDULED:
            skip[row.id] = f"not sent: the change is {status.get(row.change_id, 'gone')}"
        elif row.tenant_id in acked[row.change_id]:
            skip[row.id] = "not sent: the tenant has acknowledged"
        elif row.kind == REMINDER and (row.tenant_id, row.recipient) in opted_out:
            skip[row.id] = "not sent: the address unsubscribed from reminders"
    return skip
