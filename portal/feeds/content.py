"""What a feed contains: the selection of changes, its cheap fingerprint, and the entry data.

A tenant's feed holds the published changes (never drafts or changes pending approval) that
still affect the tenant (an active ``ChangeTenant`` row). A service's public feed holds the
published changes marked public that target the service, and its calendar also the changes
that left it (``portal.feeds.public.withdrawn_entries``), as cancelled events.

Every change that has not ended (scheduled, in progress) is always in every format; the cap,
``FEED_MAX_ENTRIES``, applies to the ended ones only (completed, cancelled, withdrawn), most
recently updated kept (DESIGN.md "Feeds"). A calendar synchronised with a capped feed would
otherwise delete the event of a change still to come.

The fingerprint comes from the scope's version row (``portal.feeds.versions``), so conditional
requests (304) and receipts never build a feed body nor aggregate over the tenant's changes:
every publish, revision, cancellation or change of the affected set bumps the version, and so
does renaming a service, impact level or tenant the feed shows (``portal.feeds.renames``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import selectinload

from portal.catalog.models import Service
from portal.changes.models import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    PUBLISHED_STATUSES,
    SCHEDULED,
    VISIBILITY_PUBLIC,
    Change,
    ChangeTarget,
    ChangeTenant,
    Revision,
)
from portal.extensions import db
from portal.feeds import versions
from portal.feeds.public import Withdrawn, withdrawn_entries

# Bump when the rendered shape of the feeds changes, so every ETag changes with it.
FEED_FORMAT_VERSION = "4"  # 4: what you need to do, act by; "Fri 6 Nov" dates

# Ended changes are capped; the others (scheduled, in progress) are always in every feed.
ENDED_STATUSES = (COMPLETED, CANCELLED)

STATUS_LABELS = {
    SCHEDULED: "Scheduled",
    "rescheduled": "Rescheduled",
    IN_PROGRESS: "In progress",
    COMPLETED: "Completed",
    CANCELLED: "Cancelled",
    "dropped": "No longer affects you",
}
DROPPED_NOTE = "This change no longer affects you: a revision stopped it touching services you use."


@dataclass(frozen=True)
class Scope:
    """Whose feed: a tenant's private feed or a service's public one."""

    kind: str  # "tenant" | "service"
    id: int
    title: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Fingerprint:
    """The cheap summary of a feed's content, from which ETags and Last-Modified derive."""

    digest: str
    changed_at: dt.datetime | None  # when the content last changed (exact)
    version: int
    # The HTTP Last-Modified of this content: whole seconds, strictly later for every version.
    last_modified: dt.datetime | None = None

    def etag(self, fmt: str) -> str:
        """The quoted HTTP ETag of this content in one format."""
        return f'"{fmt}-{self.digest}"'


@dataclass
class Entry:
    """Everything one feed entry shows about a change."""

    change: Change
    status: str  # scheduled | rescheduled | in_progress | completed | cancelled
    updated: dt.datetime
    published: dt.datetime
    services: list[Service] = field(default_factory=list)
    note: str = ""  # the cancellation reason, or why it no longer affects the tenant

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status.replace("_", " ").capitalize())


def tenant_title(name: str) -> str:
    return f"Changes affecting {name}"


def tenant_scope(tenant) -> Scope:
    return Scope("tenant", tenant.id, tenant_title(tenant.name))


def service_scope(service: Service) -> Scope:
    return Scope("service", service.id, f"Public changes to {service.name}")


def _selection(kind: str, scope_id) -> Select:
    """SELECT of the ids of every change a feed of ``kind`` may show (before the cap).

    ``scope_id`` is a tenant or service id, or a bind parameter (for the prebuilt fingerprint).
    """
    # published_at excludes drafts withdrawn before publication (cancelled, never published).
    q = select(Change.id).where(
        Change.status.in_(PUBLISHED_STATUSES), Change.published_at.is_not(None)
    )
    if kind == "tenant":
        # Dropped tenants keep the entry, shown as no longer affecting them (DESIGN.md).
        return q.join(ChangeTenant, ChangeTenant.change_id == Change.id).where(
            ChangeTenant.tenant_id == scope_id
        )
    targeted = select(ChangeTarget.change_id).where(ChangeTarget.service_id == scope_id)
    return q.where(Change.visibility == VISIBILITY_PUBLIC, Change.id.in_(targeted))


def _ended(kind: str):
    """SQL condition: the change has ended, as the feed of ``kind`` sees it (capped); for a
    tenant, a change that no longer affects it (dropped by a revision) has ended too."""
    if kind == "tenant":
        return or_(Change.status.in_(ENDED_STATUSES), ChangeTenant.active.is_(False))
    return Change.status.in_(ENDED_STATUSES)


def shown_ids(scope: Scope, limit: int) -> Select:
    """The ids the feed shows: every change that has not ended, and of the ended ones the
    ``limit`` most recently updated."""
    every = _selection(scope.kind, scope.id)
    ended = (
        every.where(_ended(scope.kind))
        .order_by(Change.updated_at.desc(), Change.id.desc())
        .limit(limit)
    )
    return every.where(or_(~_ended(scope.kind), Change.id.in_(ended.scalar_subquery())))


def fingerprint(
    scope: Scope, limit: int, salt: str = "", known: versions.Version | None = None
) -> Fingerprint:
    """The feed's validators from its scope's version row (one primary-key read); no feed body
    is built.

    Every publish, revision, start, completion or cancellation of a change in the scope bumps
    the version in its own transaction (``portal.feeds.versions``). ``salt`` carries whatever
    else shapes the body (the public base URL); the scope's title (a tenant's name) counts too.
    ``known`` is the scope's ``versions.Version`` when the caller has read it already (a
    private feed reads it with its token).
    """
    version, changed_at, last_modified = known if known is not None else versions.current(scope.key)
    return _fingerprint(salt, scope.key, scope.title, limit, version, changed_at, last_modified)


@functools.lru_cache(maxsize=1024)
def _fingerprint(
    salt: str,
    key: str,
    title: str,
    limit: int,
    version: int,
    changed_at: dt.datetime | str | None,
    last_modified: dt.datetime | None,
) -> Fingerprint:
    """The fingerprint of these inputs: a pure function, so every poll of an unchanged feed
    (most of them) reuses the last result instead of hashing again. It holds no state of
    the database: the inputs are read afresh on every request, and new ones make a new
    entry (least recently used dropped)."""
    aware = _aware(changed_at)
    text = "|".join(
        str(p)
        for p in (
            FEED_FORMAT_VERSION,
            salt,
            key,
            title,
            limit,
            version,
            aware and aware.isoformat(),
        )
    )
    return Fingerprint(
        hashlib.sha256(text.encode()).hexdigest()[:32], aware, version, last_modified
    )


def _aware(value):
    """Aggregates bypass the column type on some backends: re-attach UTC to naive values."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns max() of a datetime column as text
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def entries(scope: Scope, limit: int) -> list[Entry | Withdrawn]:
    """The feed's entries, most recently updated first, with revisions and services loaded.

    A service's feed also holds ``Withdrawn`` entries (changes that left it; only calendars
    show them); they count against the cap with the ended changes.
    """
    changes = (
        db.session.execute(
            select(Change)
            .where(Change.id.in_(shown_ids(scope, limit).scalar_subquery()))
            .options(
                selectinload(Change.revisions),
                selectinload(Change.impact_level),
                selectinload(Change.targets).selectinload(ChangeTarget.service),
            )
            .order_by(Change.updated_at.desc(), Change.id.desc())
        )
        .scalars()
        .all()
    )
    dropped = set()
    if scope.kind == "tenant" and changes:
        dropped = set(
            db.session.scalars(
                select(ChangeTenant.change_id).where(
                    ChangeTenant.tenant_id == scope.id,
                    ChangeTenant.active.is_(False),
                    ChangeTenant.change_id.in_([c.id for c in changes]),
                )
            )
        )
    items: list[Entry | Withdrawn] = [_entry(change, change.id in dropped) for change in changes]
    if scope.kind == "service":
        items = _cap_ended([*items, *withdrawn_entries(scope.id, limit)], limit)
    return items


def _cap_ended(items: list[Entry | Withdrawn], limit: int) -> list[Entry | Withdrawn]:
    """Every entry that has not ended, and the ``limit`` most recent ended ones (withdrawn
    ones count as ended), most recently updated first."""

    def when(item):
        return item.withdrawn_at if isinstance(item, Withdrawn) else item.change.updated_at

    def ended(item):
        return isinstance(item, Withdrawn) or item.change.status in ENDED_STATUSES

    ordered = sorted(items, key=lambda i: (when(i), _change_id(i)), reverse=True)
    kept_ended = {id(i) for i in [i for i in ordered if ended(i)][:limit]}
    return [i for i in ordered if not ended(i) or id(i) in kept_ended]


def _change_id(item: Entry | Withdrawn) -> int:
    return item.change_id if isinstance(item, Withdrawn) else item.change.id


def revision_pairs(items: list[Entry | Withdrawn]) -> list[list[int]]:
    """[[change_id, revision_number], …] sorted: what a response contained (changes only)."""
    return sorted([e.change.id, e.change.revision_number] for e in items if isinstance(e, Entry))


def _entry(change: Change, dropped: bool = False) -> Entry:
    revisions = list(change.revisions)
    updated = max([r.created_at for r in revisions], default=None) or change.updated_at
    published = change.published_at or (revisions[0].created_at if revisions else updated)
    services = sorted(
        {t.service.id: t.service for t in change.targets}.values(), key=lambda s: s.name
    )
    status = "dropped" if dropped else feed_status(change, revisions)
    last = revisions[-1] if revisions else None
    note = DROPPED_NOTE if dropped else ""
    if not dropped and change.status == CANCELLED and last is not None and last.kind == "cancel":
        note = f"Cancelled: {last.summary}" if last.summary not in ("", "cancelled") else ""
    return Entry(change, status, updated, published, services, note)


def feed_status(change: Change, revisions: list[Revision]) -> str:
    """The change's status as feeds show it: "rescheduled" when a revision moved the start."""
    if change.status != SCHEDULED:
        return change.status
    starts = [_snapshot_start(r) for r in sorted(revisions, key=lambda r: r.number)]
    starts = [s for s in starts if s is not None]
    moved = any(a != b for a, b in zip(starts, starts[1:], strict=False))
    return "rescheduled" if moved else SCHEDULED


def _snapshot_start(revision: Revision) -> str | None:
    try:
        data = json.loads(revision.snapshot or "{}")
    except ValueError:
        return None
    value = data.get("starts_at") if isinstance(data, dict) else None
    return str(value) if value is not None else None
