"""What the change page offers its viewer, asked of the rules the services enforce.

Templates never restate which statuses allow what (issue #19 item 2): the status sets live in
``portal.changes.models`` (EDITABLE, STARTABLE, CANCELLABLE, COMPLETABLE) and the services
refuse anything else; this module turns them, and the tenants' go-live gates, into the buttons
an engineer sees, each with the sentence that explains a disabled one (issue #16 item 2).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select

from portal.changes import emergency
from portal.changes.lifecycle import TenantGate
from portal.changes.models import (
    CANCELLABLE,
    COMPLETABLE,
    DRAFT,
    EDITABLE,
    IN_PROGRESS,
    SCHEDULED,
    STARTABLE,
    Change,
)
from portal.extensions import db
from portal.tenants.models import NoticeContact
from portal.timezones import format_duration


@dataclass(frozen=True)
class StartOffer:
    """The Start buttons: ``enabled`` when at least one unstarted tenant's gate is open (or the
    change affects nobody and its start has come); ``only_open`` when some are open and some
    shut; ``why_not`` explains a disabled button; ``first_opens_at`` is UTC or None."""

    label: str
    enabled: bool
    only_open: bool
    why_not: str = ""
    first_opens_at: dt.datetime | None = None


@dataclass(frozen=True)
class ChangeActions:
    """Which actions the change page offers a viewer who manages the change."""

    edit: bool
    edit_label: str
    publish: bool
    cancel: bool
    complete: bool
    start: StartOffer | None
    overdue: bool

    @classmethod
    def none(cls, change: Change, now: dt.datetime) -> ChangeActions:
        return cls(False, "", False, False, False, None, is_overdue(change, now))


@dataclass(frozen=True)
class EmergencyOffer:
    """The emergency section of the change page, asked of ``portal.changes.emergency``:
    ``awaiting`` a decision; whether this viewer ``may_decide``; ``own_change`` when the
    rule that bars the author is what keeps the viewer from deciding."""

    awaiting: bool
    may_decide: bool
    own_change: bool


def emergency_offer(user, change: Change) -> EmergencyOffer:
    """What the viewer may do about ``change``'s emergency request (the same predicates
    ``emergency.approve`` and ``emergency.reject`` check)."""
    if not emergency.awaits_decision(change):
        return EmergencyOffer(False, False, False)
    return EmergencyOffer(
        True, emergency.may_approve(user, change), emergency.author_barred(user, change)
    )


@dataclass(frozen=True)
class GateGroup:
    """Tenants whose gates share a state and a reason, with when the last of them opens."""

    open: bool
    reason: str
    count: int
    opens_at: dt.datetime | None  # the latest opening among them; None when any is unknown


def is_overdue(change: Change, now: dt.datetime) -> bool:
    """A scheduled change whose start has passed without being started."""
    return change.status == SCHEDULED and change.starts_at <= now


def _start_offer(change: Change, gates: list[TenantGate], now: dt.datetime) -> StartOffer:
    label = "Start remaining tenants" if change.status == IN_PROGRESS else "Start for all tenants"
    pending = [g for g in gates if g.started_at is None]
    if not gates:
        if now >= change.starts_at:
            return StartOffer(label, True, False)
        wait = format_duration((change.starts_at - now).total_seconds())
        return StartOffer(
            label,
            False,
            False,
            f"The start has not been reached; it is in {wait}.",
            change.starts_at,
        )
    open_now = [g for g in pending if g.state.open]
    shut = [g for g in pending if not g.state.open]
    if open_now:
        return StartOffer(label, True, bool(shut))
    if not pending:
        return StartOffer(label, False, False, "Every affected tenant has been started.")
    known = [g.state.opens_at for g in shut if g.state.opens_at is not None]
    if not known:
        return StartOffer(
            label,
            False,
            False,
            "No tenant's gate is open, and none can open until its notice has been delivered.",
        )
    first = min(known)
    wait = format_duration(max(60, (first - now).total_seconds()) // 60 * 60)
    return StartOffer(
        label, False, False, f"No tenant's gate is open yet; the first opens in {wait}.", first
    )


def actions_for(change: Change, gates: list[TenantGate], now: dt.datetime) -> ChangeActions:
    """The actions for a viewer who manages ``change`` (the caller checks that), with the
    Start offer computed from the same gates the start service checks."""
    return ChangeActions(
        edit=change.status in EDITABLE,
        edit_label="Edit" if change.status == DRAFT else "Reschedule / revise",
        publish=change.status == DRAFT,
        cancel=change.status in CANCELLABLE,
        complete=change.status in COMPLETABLE,
        start=_start_offer(change, gates, now) if change.status in STARTABLE else None,
        overdue=is_overdue(change, now),
    )


def group_gates(gates: list[TenantGate]) -> list[GateGroup]:
    """Gates grouped by (open, reason), shut groups first, largest first: a 10,000-tenant
    change reads as a few lines ("16 shut — start not reached — all open Wed 22:00")."""

    def key_of(g: TenantGate) -> tuple[bool, str]:
        return (True, "started") if g.started_at else (g.state.open, g.state.reason)

    counts = Counter(key_of(g) for g in gates)
    latest: dict[tuple[bool, str], dt.datetime] = {}
    unknown: set[tuple[bool, str]] = set()
    for g in gates:
        key = key_of(g)
        if g.state.opens_at is None:
            unknown.add(key)
        elif key not in latest or latest[key] < g.state.opens_at:
            latest[key] = g.state.opens_at
    groups = [
        GateGroup(is_open, reason, n, None if key in unknown else latest.get(key))
        for key, n in counts.items()
        for is_open, reason in [key]
    ]
    return sorted(groups, key=lambda g: (g.open, -g.count, g.reason))


@dataclass(frozen=True)
class AnnouncementSize:
    """What publishing (or approving) sends: tenants told, of them first-party, and notice
    emails to their contacts (one per contact; opted-in users' optional copies not counted)."""

    tenants: int
    first_party: int
    emails: int


def announcement_size(affected: dict) -> AnnouncementSize:
    """For the confirmation before publish/approve; ``affected`` is ``NoticePlan.affected``
    ({tenant id: AffectedTenant}). One statement."""
    ids = list(affected)
    emails = 0
    if ids:
        emails = db.session.execute(
            select(func.count(NoticeContact.id)).where(NoticeContact.tenant_id.in_(ids))
        ).scalar_one()
    first_party = sum(1 for t in affected.values() if t.first_party)
    return AnnouncementSize(len(ids), first_party, emails or 0)
