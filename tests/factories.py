"""Factories for test data: plain functions that add rows and flush, with sensible defaults.

Exposed as fixtures (``make_tenant`` …) in ``tests/conftest.py``. Feature test packages add
their own factories in their own ``conftest.py``.
"""

from __future__ import annotations

import datetime as dt
import itertools

from portal.auth.models import User
from portal.catalog.models import Component, PlatformTeam, Service, TeamMembership, Usage
from portal.changes.models import Change, ChangeTarget
from portal.extensions import db
from portal.tenants.models import AccountManagerAssignment, ContractTerm, NoticeContact, Tenant

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


def make_tenant(
    slug=None, name=None, *, first_party=False, time_zone="UTC", contacts=1, **kw
) -> Tenant:
    n = _n()
    slug = slug or f"tenant-{n}"
    tenant = Tenant(
        slug=slug,
        name=name or slug.replace("-", " ").title(),
        first_party=first_party,
        time_zone=time_zone,
        **kw,
    )
    db.session.add(tenant)
    db.session.flush()
    for i in range(contacts):
        db.session.add(
            NoticeContact(
                tenant_id=tenant.id, email=f"ops{i + 1}@{slug}.example", name=f"Ops {i + 1}"
            )
        )
    db.session.flush()
    return tenant


def make_contact(tenant: Tenant, email: str, name: str = "") -> NoticeContact:
    contact = NoticeContact(tenant_id=tenant.id, email=email, name=name)
    db.session.add(contact)
    db.session.flush()
    return contact


def make_user(
    email=None,
    *,
    tenant: Tenant | None = None,
    name=None,
    is_admin=False,
    is_account_manager=False,
    is_tenant_admin=False,
    password=PASSWORD,
    time_zone=None,
    teams=(),
    approver=False,
    manages=(),
) -> User:
    n = _n()
    user = User(
        email=email or f"user{n}@example.com",
        name=name or f"User {n}",
        tenant_id=tenant.id if tenant else None,
        is_admin=is_admin,
        is_account_manager=is_account_manager,
        is_tenant_admin=is_tenant_admin,
        time_zone=time_zone,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    for team in teams:
        db.session.add(TeamMembership(team_id=team.id, user_id=user.id, is_approver=approver))
    for t in manages:
        db.session.add(AccountManagerAssignment(user_id=user.id, tenant_id=t.id))
    db.session.flush()
    db.session.refresh(user)
    return user


def make_team(slug=None, name=None) -> PlatformTeam:
    n = _n()
    slug = slug or f"team-{n}"
    team = PlatformTeam(slug=slug, name=name or slug.replace("-", " ").title())
    db.session.add(team)
    db.session.flush()
    return team


def make_service(team: PlatformTeam | None = None, slug=None, name=None, components=()) -> Service:
    n = _n()
    team = team or make_team()
    slug = slug or f"service-{n}"
    service = Service(slug=slug, name=name or slug.replace("-", " ").title(), team_id=team.id)
    db.session.add(service)
    db.session.flush()
    for c in components:
        db.session.add(Component(service_id=service.id, slug=c, name=c))
    db.session.flush()
    return service


def make_usage(tenant: Tenant, service: Service, component: Component | None = None) -> Usage:
    usage = Usage(
        tenant_id=tenant.id, service_id=service.id, component_id=component.id if component else None
    )
    db.session.add(usage)
    db.session.flush()
    return usage


def make_contract_term(
    tenant: Tenant, hours: float, service: Service | None = None
) -> ContractTerm:
    term = ContractTerm(
        tenant_id=tenant.id,
        service_id=service.id if service else None,
        notice_seconds=int(hours * 3600),
        reference="test contract",
    )
    db.session.add(term)
    db.session.flush()
    return term


def make_change(
    *,
    services,
    author: User,
    team: PlatformTeam | None = None,
    title="Upgrade the fusion model",
    impact="degradation",
    starts_at: dt.datetime,
    ends_at: dt.datetime | None = None,
    body="Details.",
    ack_required=False,
    visibility="affected",
    status="draft",
    customer_action="",
    act_by: dt.datetime | None = None,
) -> Change:
    """A *draft* change row (publishing is the changes feature's service, not a factory)."""
    team = team or services[0].team
    change = Change(
        team_id=team.id,
        author_id=author.id,
        title=title,
        body_md=body,
        impact=impact,
        starts_at=starts_at,
        ends_at=ends_at or starts_at + dt.timedelta(hours=2),
        ack_required=ack_required,
        visibility=visibility,
        status=status,
        customer_action=customer_action,
        act_by=act_by,
        created_at=starts_at - dt.timedelta(days=30),
        updated_at=starts_at - dt.timedelta(days=30),
    )
    db.session.add(change)
    db.session.flush()
    for s in services:
        db.session.add(ChangeTarget(change_id=change.id, service_id=s.id))
    db.session.flush()
    return change
