"""Which changes a user may see, and loading one or answering 404.

- admin: every change;
- platform engineer: the changes of their teams (drafts included);
- account manager: published changes affecting a tenant they look after;
- customer user: published changes with an active affected row for their own tenant.
Drafts and changes awaiting emergency approval are never shown to any tenant, first-party
ones included. Public visibility does not show other tenants' affected-only changes.
"""

from __future__ import annotations

from flask import abort
from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true
from sqlalchemy.orm import joinedload, selectinload

from portal.access import tenant_filter
from portal.catalog.models import TeamMembership
from portal.changes.models import PUBLISHED_STATUSES, Change, ChangeTarget, ChangeTenant
from portal.extensions import db


def visibility_clause(user, *, many: bool = False, include_dropped: bool = False):
    """A WHERE clause on ``changes`` limiting rows to what ``user`` may see.

    ``many``: the clause filters a list (a page and its count), whose view has the user's
    team memberships loaded anyway: the teams are then a literal list, and left out for staff
    in no team. An account manager's "affects one of my tenants" ``EXISTS`` inside an ``OR``
    with the teams' subquery made PostgreSQL cost a 10,000-change count at over 100 times its
    real price, past ``jit_above_cost``, and compiling took longer than counting
    (bench/lists.py). One change (``many`` false) is looked up without loading the teams.
    ``include_dropped`` also admits changes a revision no longer aims at the customer's
    tenant (it was told about them: the page says it is no longer affected, not a 404).
    """
    if user.is_admin:
        return Change.id.is_not(None)
    clauses: list[ColumnElement[bool]] = []
    if user.is_staff and not many:  # the subquery finds no team for staff outside every team
        clauses.append(Change.team_id.in_(_team_ids(user)))
    elif user.is_staff and user.memberships:
        clauses.append(Change.team_id.in_(sorted({m.team_id for m in user.memberships})))
    if user.is_customer or user.is_account_manager:
        clauses.append(
            and_(
                Change.status.in_(PUBLISHED_STATUSES),
                Change.published_at.is_not(None),
                exists().where(
                    ChangeTenant.change_id == Change.id,
                    true() if include_dropped else ChangeTenant.active.is_(True),
                    tenant_filter(ChangeTenant.tenant_id, user),
                ),
            )
        )
    return or_(*clauses) if clauses else false()


def _team_ids(user) -> Select:
    return select(TeamMembership.team_id).where(TeamMembership.user_id == user.id)


def visible_changes(user, include_dropped: bool = False) -> Select:
    """SELECT of the changes ``user`` may see."""
    return select(Change).where(visibility_clause(user, include_dropped=include_dropped))


def listed_changes(user) -> Select:
    """``visible_changes`` with what a row of a list shows loaded eagerly: team, author,
    impact level (joined to the page's query) and the targets with their services and
    components (one more statement for the whole page). A page of changes costs the same
    number of statements whatever its size (issue 20)."""
    return (
        select(Change)
        .where(visibility_clause(user, many=True))
        .options(
            joinedload(Change.team),
            joinedload(Change.author),
            joinedload(Change.impact_level),
            selectinload(Change.targets).options(
                joinedload(ChangeTarget.service), joinedload(ChangeTarget.component)
            ),
        )
    )


def get_change_or_404(change_id: int, user) -> Change:
    """The change if ``user`` may see it, else 404 (never 403: existence does not leak)."""
    change = db.session.execute(
        visible_changes(user, include_dropped=True).where(Change.id == change_id)
    ).scalar_one_or_none()
    if change is None:
        abort(404)
    return change


def get_change_for_gate_or_404(change_id: int, user) -> tuple[Change, bool]:
    """The change if ``user`` may see it, and whether they manage it, in one query (the gate
    is polled by pipelines, so it saves the round trips of loading the user's teams)."""
    manages: ColumnElement[bool]
    if user.is_admin:
        manages = true()
    elif user.is_staff:
        manages = Change.team_id.in_(_team_ids(user))
    else:
        manages = false()
    row = db.session.execute(
        select(Change, manages).where(visibility_clause(user), Change.id == change_id)
    ).first()
    if row is None:
        abort(404)
    return row[0], bool(row[1])


def can_manage(user, change: Change) -> bool:
    """Engineers of the owning team (and admins) edit, publish, start and cancel."""
    if user.is_admin:
        return True
    return user.is_staff and change.team_id in {m.team_id for m in user.memberships}


def get_managed_change_or_404(change_id: int, user) -> Change:
    """A change the user may act on as an engineer; others' changes are 404."""
    change = get_change_or_404(change_id, user)
    if not can_manage(user, change):
        abort(404)
    return change
