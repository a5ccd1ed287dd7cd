"""What the public may see without logging in: upcoming published changes marked public."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Service
from portal.changes.models import (
    IN_PROGRESS,
    PUBLISHED_STATUSES,
    SCHEDULED,
    VISIBILITY_PUBLIC,
    Change,
    ChangeTarget,
)
from portal.extensions import db


def _public():
    return (
        Change.visibility == VISIBILITY_PUBLIC,
        Change.published_at.is_not(None),
        Change.status.in_(PUBLISHED_STATUSES),
    )


def upcoming_public_changes(now: dt.datetime, limit: int) -> list[Change]:
    """Public changes still to come or under way, soonest first."""
    return list(
        db.session.execute(
            select(Change)
            .where(*_public(), Change.status.in_((SCHEDULED, IN_PROGRESS)), Change.ends_at >= now)
            .options(selectinload(Change.targets).selectinload(ChangeTarget.service))
            .order_by(Change.starts_at, Change.id)
            .limit(limit)
        ).scalars()
    )


def services_with_public_changes() -> list[Service]:
    """Services that have ever had a public change: the ones whose public feed means something."""
    ids = (
        select(ChangeTarget.service_id)
        .join(Change, Change.id == ChangeTarget.change_id)
        .where(*_public())
    )
    return list(
        db.session.execute(
            select(Service).where(Service.id.in_(ids)).order_by(Service.name)
        ).scalars()
    )
