"""The start page's "coming up" list: the next changes a user may see, and for a customer
which of them still wait for the organisation's acknowledgement."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from portal.acks.services import acknowledged_change_ids
from portal.changes.asks import asks_acknowledgement
from portal.changes.models import IN_PROGRESS, SCHEDULED, Change
from portal.changes.queries import visible_changes
from portal.extensions import db


@dataclass(frozen=True)
class Upcoming:
    change: Change
    awaiting_ack: bool  # the change asks the customer's organisation, which has not answered


def upcoming_for(user, now: dt.datetime, limit: int = 8) -> list[Upcoming]:
    """Scheduled or running changes that have not ended, soonest first (two queries)."""
    changes = list(
        db.session.execute(
            visible_changes(user)
            .where(Change.status.in_((SCHEDULED, IN_PROGRESS)), Change.ends_at >= now)
            .order_by(Change.starts_at, Change.id)
            .limit(limit)
        ).scalars()
    )
    acknowledged = (
        acknowledged_change_ids(user.tenant_id, [c.id for c in changes])
        if user.is_customer
        else set()
    )
    return [
        Upcoming(c, user.is_customer and asks_acknowledgement(c) and c.id not in acknowledged)
        for c in changes
    ]
