"""What an approver needs to decide an emergency request, and who must be told of one
(DESIGN.md "Emergency path"; issue #16 item 1).

The blast radius beside the decision: how many tenants the change affects, which first-party
tenants are among them, and for every tenant whose required notice the start does not give,
how much notice it is owed, from which rule (policy, service policy or contract and its
reference), and how much it would get if approved now. Every approver of the owning team who
may decide (never the author, never the requester) is emailed when the request is made, and
sees it in "Waiting for your approval" on the home page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from portal.auth.models import User
from portal.catalog.models import TeamMembership
from portal.changes.models import PENDING_APPROVAL, Change, EmergencyRequest
from portal.changes.notice import NoticePlan
from portal.changes.services import input_of, run_check
from portal.extensions import db
from portal.timezones import format_duration, format_when


@dataclass(frozen=True)
class Shortfall:
    """One tenant the proposed start gives less notice than it is owed (seconds)."""

    name: str
    slug: str
    first_party: bool
    required_seconds: int
    given_seconds: int
    source: str  # "policy", "service policy" or "contract <reference>"

    @property
    def short_by_seconds(self) -> int:
        return max(0, self.required_seconds - self.given_seconds)


@dataclass(frozen=True)
class ApprovalBrief:
    """The notice check of a change awaiting emergency approval, as of ``now`` (UTC)."""

    affected: int
    first_party: tuple[str, ...]
    shortfalls: tuple[Shortfall, ...]
    starts_in_seconds: int

    @property
    def start_passed(self) -> bool:
        """Too late to approve: the requester must reschedule (draft again) first."""
        return self.starts_in_seconds <= 0


def brief(change: Change, now: dt.datetime) -> ApprovalBrief:
    """The blast radius of approving ``change`` at ``now``: affected tenants, first-party ones,
    each tenant's shortfall (required vs given notice, seconds) and the time to the start."""
    return brief_and_plan(change, now)[0]


def brief_and_plan(change: Change, now: dt.datetime) -> tuple[ApprovalBrief, NoticePlan]:
    """``brief`` and the notice plan it was computed from (its affected tenants)."""
    plan, check = run_check(input_of(change), now)
    given = int((change.starts_at - now).total_seconds())
    shortfalls = tuple(
        Shortfall(
            name=b.name,
            slug=b.slug,
            first_party=plan.affected[b.tenant_id].first_party,
            required_seconds=b.required_seconds,
            given_seconds=max(0, given),
            source=b.source,
        )
        for b in sorted(check.blockers, key=lambda b: (-b.required_seconds, b.name))
    )
    first_party = tuple(sorted(t.name for t in plan.affected.values() if t.first_party))
    return ApprovalBrief(len(plan.affected), first_party, shortfalls, given), plan


def summary_text(change: Change, request: EmergencyRequest, now: dt.datetime) -> str:
    """Plain text for the approvers' email: justification, start, blast radius (UTC)."""
    b = brief(change, now)
    lines = [
        f"Justification: {request.justification}",
        f"Starts: {format_when(change.starts_at, 'UTC')} "
        f"(in {format_duration(max(0, b.starts_in_seconds))})",
        f"Affected tenants: {b.affected}",
        "First-party tenants affected: " + (", ".join(b.first_party) or "none"),
        f"Tenants given less notice than they are owed: {len(b.shortfalls)}",
    ]
    for s in b.shortfalls[:20]:
        lines.append(
            f"  - {s.name}{' (first-party)' if s.first_party else ''}: owed "
            f"{format_duration(s.required_seconds)} by {s.source}, would get "
            f"{format_duration(s.given_seconds)} (short by {format_duration(s.short_by_seconds)})"
        )
    if len(b.shortfalls) > 20:
        lines.append(f"  … and {len(b.shortfalls) - 20} more on the change page")
    return "\n".join(lines)


def _approver_ids(team_id: int):
    return select(TeamMembership.user_id).where(
        TeamMembership.team_id == team_id, TeamMembership.is_approver.is_(True)
    )


def approvers_to_tell(change: Change, requested_by_id: int) -> list[tuple[str, str]]:
    """(email, name) of every approver of the owning team who may decide: not the author,
    not the requester, and still active."""
    excluded = {change.author_id, requested_by_id}
    users = db.session.execute(
        select(User.email, User.name, User.id)
        .where(User.id.in_(_approver_ids(change.team_id)), User.active.is_(True))
        .order_by(User.email)
    ).all()
    return [(email, name) for email, name, uid in users if uid not in excluded and email]


def _awaiting(user):
    """Changes pending approval that ``user`` may decide (the same rule as
    ``emergency.may_approve`` plus "not the requester")."""
    teams = select(TeamMembership.team_id).where(
        TeamMembership.user_id == user.id, TeamMembership.is_approver.is_(True)
    )
    return (
        select(Change)
        .join(
            EmergencyRequest,
            (EmergencyRequest.change_id == Change.id) & EmergencyRequest.decision.is_(None),
        )
        .where(
            Change.status == PENDING_APPROVAL,
            Change.team_id.in_(teams),
            Change.author_id != user.id,
            EmergencyRequest.requested_by_id != user.id,
        )
    )


def awaiting_approval(user, limit: int = 20) -> list[Change]:
    """Changes waiting for ``user``'s decision, soonest start first (at most ``limit``)."""
    if not getattr(user, "is_engineer", False):
        return []
    query = _awaiting(user).order_by(Change.starts_at, Change.id).limit(limit)
    return list(db.session.execute(query).scalars())


def awaiting_count(user) -> int:
    """How many changes wait for ``user``'s decision (the menu's count); one statement."""
    if not getattr(user, "is_engineer", False):
        return 0
    return db.session.scalar(select(func.count()).select_from(_awaiting(user).subquery())) or 0
