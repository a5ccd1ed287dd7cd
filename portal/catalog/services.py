"""Managing the catalog: platform teams and their members, services and their components.

Functions validate, flush and ledger in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from portal.auth.models import User
from portal.catalog.models import Component, PlatformTeam, Service, TeamMembership, Usage
from portal.changes.models import ChangeTarget
from portal.errors import Conflict, InvalidInput
from portal.extensions import db
from portal.ledger.services import record
from portal.tenants.services import check_slug


def _name(name: str, field: str = "name") -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a name is required", field=field)
    return name[:200]


def _slug_free(model, slug: str, own_id: int | None, what: str) -> None:
    q = select(model.id).where(model.slug == slug)
    if own_id is not None:
        q = q.where(model.id != own_id)
    if db.session.execute(q).first():
        raise InvalidInput(f"the slug {slug!r} is already used by another {what}", field="slug")


def save_team(
    team: PlatformTeam | None, *, slug: str, name: str, actor, now: dt.datetime
) -> PlatformTeam:
    """Create a team (``team`` None) or rename / re-slug one."""
    slug, name = check_slug(slug), _name(name)
    _slug_free(PlatformTeam, slug, team.id if team else None, "team")
    action = "team.updated" if team else "team.created"
    if team is None:
        team = PlatformTeam()
        db.session.add(team)
    team.slug, team.name = slug, name
    db.session.flush()
    record(
        action,
        subject_type="team",
        subject_id=team.id,
        actor=actor,
        now=now,
        payload={"slug": slug, "name": name},
    )
    return team


def add_member(
    team: PlatformTeam, user: User, *, is_approver: bool, actor, now: dt.datetime
) -> TeamMembership:
    """Make a staff user an engineer of ``team``, optionally with the approver right."""
    if not user.is_staff:
        raise InvalidInput("only provider staff can join a platform team", field="user")
    exists = db.session.execute(
        select(TeamMembership.id).where(
            TeamMembership.team_id == team.id, TeamMembership.user_id == user.id
        )
    ).first()
    if exists:
        raise InvalidInput(f"{user.name} is already a member of {team.name}", field="user")
    membership = TeamMembership(team_id=team.id, user_id=user.id, is_approver=bool(is_approver))
    db.session.add(membership)
    db.session.flush()
    record(
        "team.member_added",
        subject_type="team",
        subject_id=team.id,
        actor=actor,
        now=now,
        payload={"user_id": user.id, "email": user.email, "approver": bool(is_approver)},
    )
    return membership


def set_approver(
    membership: TeamMembership, is_approver: bool, *, actor, now: dt.datetime
) -> TeamMembership:
    """Grant or withdraw the right to approve other engineers' emergency changes."""
    membership.is_approver = bool(is_approver)
    db.session.flush()
    record(
        "team.approver_set",
        subject_type="team",
        subject_id=membership.team_id,
        actor=actor,
        now=now,
        payload={"user_id": membership.user_id, "approver": bool(is_approver)},
    )
    return membership


def remove_member(membership: TeamMembership, *, actor, now: dt.datetime) -> None:
    """Take an engineer off a team."""
    record(
        "team.member_removed",
        subject_type="team",
        subject_id=membership.team_id,
        actor=actor,
        now=now,
        payload={"user_id": membership.user_id, "email": membership.user.email},
    )
    db.session.delete(membership)
    db.session.flush()


def save_service(
    service: Service | None,
    *,
    slug: str,
    name: str,
    description: str | None,
    team: PlatformTeam | None,
    actor,
    now: dt.datetime,
) -> Service:
    """Create a service (``service`` None) or edit one, including its owning team."""
    slug, name = check_slug(slug), _name(name)
    if team is None:
        raise InvalidInput("choose the team that owns the service", field="team")
    _slug_free(Service, slug, service.id if service else None, "service")
    action = "service.updated" if service else "service.created"
    if service is None:
        service = Service()
        db.session.add(service)
    service.slug, service.name = slug, name
    service.description, service.team_id = (description or "").strip(), team.id
    db.session.flush()
    record(
        action,
        subject_type="service",
        subject_id=service.id,
        actor=actor,
        now=now,
        payload={"slug": slug, "name": name, "team": team.slug},
    )
    return service


def add_component(service: Service, *, slug: str, name: str, actor, now: dt.datetime) -> Component:
    """Add a component (part or region) to a service; slugs are unique per service."""
    slug, name = check_slug(slug), _name(name)
    exists = db.session.execute(
        select(Component.id).where(Component.service_id == service.id, Component.slug == slug)
    ).first()
    if exists:
        raise InvalidInput(f"{service.name} already has a component {slug!r}", field="slug")
    component = Component(service_id=service.id, slug=slug, name=name)
    db.session.add(component)
    db.session.flush()
    record(
        "component.added",
        subject_type="service",
        subject_id=service.id,
        actor=actor,
        now=now,
        payload={"component": slug, "name": name},
    )
    return component


def remove_component(component: Component, *, actor, now: dt.datetime) -> None:
    """Remove a component and its usages; refused while any change targets it."""

    if db.session.execute(
        select(ChangeTarget.id).where(ChangeTarget.component_id == component.id)
    ).first():
        raise Conflict(f"changes target {component.name}; it cannot be removed")
    db.session.execute(delete(Usage).where(Usage.component_id == component.id))
    record(
        "component.removed",
        subject_type="service",
        subject_id=component.service_id,
        actor=actor,
        now=now,
        payload={"component": component.slug},
    )
    db.session.delete(component)
    db.session.flush()
