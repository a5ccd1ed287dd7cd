"""What the public may see without logging in: published changes marked public.

- ``public_change_or_none``: one public change for its page (``/public/changes/<id>``).
- ``upcoming_public_changes``: the changes still to come or under way, one page at a time.
- ``sync_public_listing``: keeps ``PublicListing`` in step with a change at each revision and
  says which services' public feeds that revision moves (DESIGN.md "Feeds": a public feed shows
  only public changes, drops one the moment it stops being public in all formats at once, and
  its validators move only when its own content does).
- ``withdrawn_entries``: the changes that left a service's public feeds, for its calendar.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Service
from portal.changes.models import (
    IN_PROGRESS,
    PUBLISHED_STATUSES,
    SCHEDULED,
    VISIBILITY_PUBLIC,
    Change,
    ChangeTarget,
    Revision,
)
from portal.extensions import db
from portal.feeds.models import PublicListing
from portal.inputs import MAX_ID


def _public():
    return (
        Change.visibility == VISIBILITY_PUBLIC,
        Change.published_at.is_not(None),
        Change.status.in_(PUBLISHED_STATUSES),
    )


def is_public(change: Change) -> bool:
    """Published and marked public: what the public feeds and pages may show."""
    return (
        change.visibility == VISIBILITY_PUBLIC
        and change.published_at is not None
        and change.status in PUBLISHED_STATUSES
    )


def public_change_or_none(change_id: int) -> Change | None:
    """The public change ``change_id`` with its services, or None when there is no such
    change or it is not public (a draft, or "affected customers only")."""
    if not 0 < change_id <= MAX_ID:
        return None
    return db.session.execute(
        select(Change)
        .where(Change.id == change_id, *_public())
        .options(
            selectinload(Change.targets).selectinload(ChangeTarget.service),
            selectinload(Change.impact_level),
        )
    ).scalar_one_or_none()


def upcoming_public_changes_query(now: dt.datetime) -> Select:
    """SELECT of the public changes still to come or under way, soonest first (paginate it)."""
    return (
        select(Change)
        .where(*_public(), Change.status.in_((SCHEDULED, IN_PROGRESS)), Change.ends_at >= now)
        .options(selectinload(Change.targets).selectinload(ChangeTarget.service))
        .order_by(Change.starts_at, Change.id)
    )


def services_with_public_changes() -> list[Service]:
    """Services that have ever had a public change: the ones whose public feed means something."""
    ids = select(PublicListing.service_id)
    return list(
        db.session.execute(
            select(Service).where(Service.id.in_(ids)).order_by(Service.name)
        ).scalars()
    )


def sync_public_listing(change: Change, now: dt.datetime) -> set[int]:
    """Bring ``change``'s public listings up to date after a revision; return the ids of the
    services whose public feeds this moves: every service that listed the change before the
    revision or lists it after. Flushes; the caller commits.

    A change listed nowhere before or after (it is not public and was not) moves nothing, so
    publishing, revising or cancelling it leaves every public feed's validators alone. A change
    that stops being listed by a service keeps its row, marked withdrawn at this revision.
    """
    listed_now = {t.service_id for t in change.targets} if is_public(change) else set()
    rows = {
        row.service_id: row
        for row in db.session.execute(
            select(PublicListing).where(PublicListing.change_id == change.id)
        ).scalars()
    }
    moved = set()
    for service_id in listed_now:
        row = rows.get(service_id)
        if row is None:
            row = PublicListing(service_id=service_id, change_id=change.id)
            db.session.add(row)
        row.listed, row.withdrawn_revision = True, None
        row.public_revision, row.changed_at = change.revision_number, now
        moved.add(service_id)
    for service_id, row in rows.items():
        if service_id not in listed_now and row.listed:
            row.listed, row.withdrawn_revision, row.changed_at = (
                False,
                change.revision_number,
                now,
            )
            moved.add(service_id)
    db.session.flush()
    return moved


@dataclass(frozen=True)
class Withdrawn:
    """A change that left a service's public feeds, as the public last saw it.

    Public calendars keep it as a cancelled event (RFC 5545 §3.8.1.11 STATUS:CANCELLED, with a
    higher SEQUENCE) so that subscribed calendars drop it; nothing after ``public_revision`` is
    shown, so a change made private reveals nothing of what it became.
    """

    change_id: int
    title: str
    impact: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    published_at: dt.datetime | None
    public_revision: int
    withdrawn_revision: int
    withdrawn_at: dt.datetime


def withdrawn_entries(service_id: int, limit: int) -> list[Withdrawn]:
    """The ``limit`` changes that left ``service_id``'s public feeds most recently, newest
    first, each as its last public revision showed it."""
    rows = db.session.execute(
        select(PublicListing, Revision.snapshot, Change.published_at)
        .join(
            Revision,
            (Revision.change_id == PublicListing.change_id)
            & (Revision.number == PublicListing.public_revision),
        )
        .join(Change, Change.id == PublicListing.change_id)
        .where(PublicListing.service_id == service_id, PublicListing.listed.is_(False))
        .order_by(PublicListing.changed_at.desc(), PublicListing.change_id.desc())
        .limit(limit)
    ).all()
    result = []
    for listing, snapshot, published_at in rows:
        data = json.loads(snapshot)
        result.append(
            Withdrawn(
                listing.change_id,
                str(data["title"]),
                str(data["impact"]),
                _when(data["starts_at"]),
                _when(data["ends_at"]),
                published_at,
                listing.public_revision,
                listing.withdrawn_revision or listing.public_revision,
                listing.changed_at,
            )
        )
    return result


def _when(value: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(value)
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
