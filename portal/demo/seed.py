"""Seeding the demo's believable provider, idempotently: running it twice changes nothing.

Every row is looked up by its natural key (slug, email, unique pair) before it is created, so a
second run adds nothing and writes no second ledger entry. ``seed_demo`` returns a ``DemoWorld``
with the rows by key, for later story steps (see ``seed_story``). Flushes; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from portal.auth.models import User
from portal.catalog.models import Component, PlatformTeam, Service, TeamMembership, Usage
from portal.changes.defaults import DEFAULT_IMPACT_LEVELS, HOUR
from portal.changes.models import ImpactLevel
from portal.demo import data
from portal.demo.story import seed_changes
from portal.extensions import db
from portal.ledger.services import record
from portal.tenants.models import AccountManagerAssignment, ContractTerm, NoticeContact, Tenant

# The story's policy (DESIGN.md "The story, end to end"): degradation needs 24 h globally.
DEMO_IMPACT_NOTICE = {"degradation": 24 * HOUR}
HISTORY = dt.timedelta(days=90)


@dataclass
class DemoWorld:
    """The seeded rows by natural key, and how many rows this run created."""

    teams: dict[str, PlatformTeam] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    tenants: dict[str, Tenant] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    created: int = 0


def _get_or_create(world: DemoWorld, model, keys: dict[str, Any], **defaults):
    """The row with ``keys``, created (with ``defaults``) if missing."""
    row = db.session.execute(select(model).filter_by(**keys)).scalar_one_or_none()
    if row is None:
        row = model(**keys, **defaults)
        db.session.add(row)
        db.session.flush()
        world.created += 1
    return row


def seed_catalog(world: DemoWorld) -> None:
    """Platform teams, their services and the services' regional components."""
    for slug, name in data.TEAMS:
        world.teams[slug] = _get_or_create(world, PlatformTeam, {"slug": slug}, name=name)
    for slug, name, team, description, components in data.SERVICES:
        service = _get_or_create(
            world,
            Service,
            {"slug": slug},
            name=name,
            description=description,
            team_id=world.teams[team].id,
        )
        for c_slug, c_name in components:
            _get_or_create(
                world, Component, {"service_id": service.id, "slug": c_slug}, name=c_name
            )
        world.services[slug] = service


def seed_tenants(world: DemoWorld, *, now: dt.datetime) -> None:
    """About 60 tenants with notice contacts, usage and contract terms."""
    rng = random.Random(2026)  # the same "random" usage on every run
    others = [s for s in world.services if s != "face-fusion-api"]
    for slug, name, zone, first_party in data.TENANTS:
        tenant = _get_or_create(
            world,
            Tenant,
            {"slug": slug},
            name=name,
            time_zone=zone,
            first_party=first_party,
            created_at=now,
        )
        world.tenants[slug] = tenant
        for local, label in data.CONTACT_ROLES[: 1 + rng.randrange(3)]:
            _get_or_create(
                world,
                NoticeContact,
                {"tenant_id": tenant.id, "email": f"{local}@{slug}.example"},
                name=f"{name} {label.lower()}",
                created_at=now,
            )
        used = rng.sample(others, 1 + rng.randrange(3))
        if slug in ("tapai", "ptu") or rng.random() < 0.35:
            used.append("face-fusion-api")
        for service_slug in used:
            _get_or_create(
                world,
                Usage,
                {
                    "tenant_id": tenant.id,
                    "service_id": world.services[service_slug].id,
                    "component_id": None,
                },
            )
    for slug, term_service, hours, reference in data.CONTRACT_TERMS:
        service_id = world.services[term_service].id if term_service else None
        _get_or_create(
            world,
            ContractTerm,
            {"tenant_id": world.tenants[slug].id, "service_id": service_id},
            notice_seconds=hours * HOUR,
            reference=reference,
        )


def _person(world: DemoWorld, email: str, name: str, password: str, **attrs) -> User:
    user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if user is None:
        user = User(email=email, name=name, **attrs)
        user.set_password(password)
        db.session.add(user)
        db.session.flush()
        world.created += 1
    return user


def seed_people(world: DemoWorld, *, password: str, now: dt.datetime) -> None:
    """Staff for every role (engineers, approver, account managers) and customer users."""
    for key, email, name, zone, attrs in data.STAFF:
        user = _person(
            world,
            email,
            name,
            password,
            time_zone=zone,
            created_at=now,
            is_admin=attrs.get("is_admin", False),
            is_account_manager=attrs.get("is_account_manager", False),
        )
        for team in attrs.get("teams", []):
            _get_or_create(
                world,
                TeamMembership,
                {"team_id": world.teams[team].id, "user_id": user.id},
                is_approver=attrs.get("approver", False),
            )
        for slug in attrs.get("manages", []):
            _get_or_create(
                world,
                AccountManagerAssignment,
                {"user_id": user.id, "tenant_id": world.tenants[slug].id},
            )
        world.users[key] = user
    for key, email, name, slug, tenant_admin in data.CUSTOMERS:
        world.users[key] = _person(
            world,
            email,
            name,
            password,
            created_at=now,
            tenant_id=world.tenants[slug].id,
            is_tenant_admin=tenant_admin,
        )


def seed_policies(world: DemoWorld) -> None:
    """The impact levels, with the demo's global notice for degradation (24 h)."""
    for level in DEFAULT_IMPACT_LEVELS:
        row = _get_or_create(
            world,
            ImpactLevel,
            {"code": level["code"]},
            name=level["name"],
            rank=level["rank"],
            notice_seconds=level["notice_seconds"],
        )
        wanted = DEMO_IMPACT_NOTICE.get(level["code"])
        if wanted is not None and row.notice_seconds != wanted:
            row.notice_seconds = wanted
            world.created += 1
    db.session.flush()


def seed_story(world: DemoWorld, *, now: dt.datetime, deliver=None) -> None:
    """The story's changes (DESIGN.md "The story, end to end"), through the real services;
    ``deliver(at)``, when given, sends the mail of the story's past at its time."""
    kw = {"deliver": deliver} if deliver is not None else {}
    world.created += seed_changes(world.users, now=now, **kw)


def seed_demo(*, password: str, now: dt.datetime, deliver=None) -> DemoWorld:
    """Seed the whole demo provider; records "demo.seeded" when anything was created.

    ``deliver(at)`` (optional) sends whatever mail is due at the past time ``at`` (UTC); the
    demo command passes a dispatch to its running mail sink (``portal.demo.story.tell``)."""
    world = DemoWorld()
    seed_catalog(world)
    # The provider's customers and staff were there long before today's changes.
    seed_tenants(world, now=now - HISTORY)
    seed_people(world, password=password, now=now - HISTORY)
    seed_policies(world)
    seed_story(world, now=now, deliver=deliver)
    if world.created:
        record(
            "demo.seeded",
            subject_type="demo",
            subject_id="demo",
            actor="forewarn demo",
            now=now,
            payload={
                "rows_created": world.created,
                "tenants": len(world.tenants),
                "services": len(world.services),
                "users": len(world.users),
            },
        )
    return world
