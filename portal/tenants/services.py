"""Managing tenants: the tenant itself, its notice contacts, its usage and its account managers.

Every function takes the acting user and ``now``, validates, flushes and writes a ledger entry
in the caller's transaction; the caller commits. Refusals are ``InvalidInput`` naming the field.
"""

from __future__ import annotations

import datetime as dt
import re

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from portal import hooks
from portal.auth.models import User
from portal.catalog.models import Component, Service, Usage
from portal.errors import InvalidInput
from portal.extensions import db
from portal.ledger.services import record
from portal.tenants.models import AccountManagerAssignment, NoticeContact, Tenant
from portal.timezones import is_zone

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
SLUG_RULE = (
    "lower-case letters, digits and inner hyphens, at least one letter, at most 64 characters"
)


def check_slug(slug: str, field: str = "slug") -> str:
    """A clean slug (``SLUG_RULE``), or InvalidInput naming ``field``."""
    slug = (slug or "").strip()
    if not slug:
        raise InvalidInput("a slug is required", field=field)
    # Digits alone would read as an id where a path takes a slug or an id (/desk/tenants/1).
    if not SLUG_RE.match(slug) or slug.replace("-", "").isdigit():
        raise InvalidInput(f"{slug!r} is not a valid slug ({SLUG_RULE})", field=field)
    return slug


def normalise_email(email: str, field: str = "email") -> str:
    """A syntactically valid address, lower-cased; no DNS look-up."""
    text = (email or "").strip()
    if not text:
        raise InvalidInput("an email address is required", field=field)
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as err:
        raise InvalidInput(f"{text!r} is not a valid email address: {err}", field=field) from None


def _check_name(name: str, field: str = "name") -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a name is required", field=field)
    if len(name) > 200:
        raise InvalidInput("at most 200 characters", field=field)
    return name


def _check_zone(zone: str) -> str:
    zone = (zone or "").strip()
    if not is_zone(zone):
        raise InvalidInput(
            f"unknown time zone {zone!r} (use an IANA name, e.g. Europe/Berlin)", field="time_zone"
        )
    return zone


def _tenant_state(tenant: Tenant) -> dict:
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "time_zone": tenant.time_zone,
        "first_party": tenant.first_party,
    }


def create_tenant(
    *, slug: str, name: str, time_zone: str, first_party: bool, actor, now: dt.datetime
) -> Tenant:
    """Add a customer organisation; a slug already in use is refused."""
    slug, name, zone = check_slug(slug), _check_name(name), _check_zone(time_zone)
    if db.session.execute(select(Tenant.id).where(Tenant.slug == slug)).first():
        raise InvalidInput(f"the slug {slug!r} is already used by another tenant", field="slug")
    tenant = Tenant(
        slug=slug, name=name, time_zone=zone, first_party=bool(first_party), created_at=now
    )
    db.session.add(tenant)
    db.session.flush()
    record(
        "tenant.created",
        subject_type="tenant",
        subject_id=tenant.id,
        tenant_id=tenant.id,
        actor=actor,
        now=now,
        payload=_tenant_state(tenant),
    )
    return tenant


def update_tenant(
    tenant: Tenant,
    *,
    slug: str,
    name: str,
    time_zone: str,
    first_party: bool,
    actor,
    now: dt.datetime,
) -> Tenant:
    """Change a tenant's slug, name, zone or first-party flag."""
    slug, name, zone = check_slug(slug), _check_name(name), _check_zone(time_zone)
    clash = db.session.execute(
        select(Tenant.id).where(Tenant.slug == slug, Tenant.id != tenant.id)
    ).first()
    if clash:
        raise InvalidInput(f"the slug {slug!r} is already used by another tenant", field="slug")
    before = _tenant_state(tenant)
    tenant.slug, tenant.name, tenant.time_zone = slug, name, zone
    tenant.first_party = bool(first_party)
    db.session.flush()
    record(
        "tenant.updated",
        subject_type="tenant",
        subject_id=tenant.id,
        tenant_id=tenant.id,
        actor=actor,
        now=now,
        payload={"before": before, "after": _tenant_state(tenant)},
    )
    return tenant


def add_contact(
    tenant: Tenant, *, email: str, name: str | None = "", actor, now: dt.datetime
) -> NoticeContact:
    """Add a notice contact; the same address twice for one tenant is refused."""
    email = normalise_email(email)
    name = (name or "").strip()
    if len(name) > 200:
        raise InvalidInput("at most 200 characters", field="name")
    exists = db.session.execute(
        select(NoticeContact.id).where(
            NoticeContact.tenant_id == tenant.id, func.lower(NoticeContact.email) == email
        )
    ).first()
    if exists:
        raise InvalidInput(f"{email} is already a notice contact of {tenant.name}", field="email")
    contact = NoticeContact(tenant_id=tenant.id, email=email, name=name, created_at=now)
    db.session.add(contact)
    db.session.flush()
    record(
        "contact.added",
        subject_type="notice_contact",
        subject_id=contact.id,
        tenant_id=tenant.id,
        actor=actor,
        now=now,
        payload={"email": email, "name": name},
    )
    # a failed or missing notice goes now (portal.changes.reach.on_contacts_changed)
    hooks.contacts_changed.call(tenant.id, actor=actor, now=now)
    return contact


def remove_contact(contact: NoticeContact, *, actor, now: dt.datetime) -> None:
    """Remove a notice contact (its past deliveries stay in the ledger)."""
    record(
        "contact.removed",
        subject_type="notice_contact",
        subject_id=contact.id,
        tenant_id=contact.tenant_id,
        actor=actor,
        now=now,
        payload={"email": contact.email},
    )
    db.session.delete(contact)
    db.session.flush()


def add_usage(
    tenant: Tenant, *, service: Service, component: Component | None, actor, now: dt.datetime
) -> Usage:
    """Record that ``tenant`` uses ``service`` (or one component of it)."""
    if component is not None and component.service_id != service.id:
        raise InvalidInput(
            f"{component.name} is not a component of {service.name}", field="component"
        )
    component_id = component.id if component else None
    q = select(Usage.id).where(Usage.tenant_id == tenant.id, Usage.service_id == service.id)
    q = q.where(
        Usage.component_id.is_(None) if component_id is None else Usage.component_id == component_id
    )
    if db.session.execute(q).first():
        what = f"{service.name} / {component.name}" if component else service.name
        raise InvalidInput(f"{tenant.name} already uses {what}", field="service")
    usage = Usage(tenant_id=tenant.id, service_id=service.id, component_id=component_id)
    db.session.add(usage)
    db.session.flush()
    record(
        "usage.added",
        subject_type="usage",
        subject_id=usage.id,
        tenant_id=tenant.id,
        actor=actor,
        now=now,
        payload={"service": service.slug, "component": component.slug if component else None},
    )
    # late joiner of scheduled changes (portal.changes.reach.on_usage_added)
    hooks.usage_added.call(tenant.id, actor=actor, now=now)
    return usage


def remove_usage(usage: Usage, *, actor, now: dt.datetime) -> None:
    """Stop recording that a tenant uses a service (component)."""
    record(
        "usage.removed",
        subject_type="usage",
        subject_id=usage.id,
        tenant_id=usage.tenant_id,
        actor=actor,
        now=now,
        payload={
            "service": usage.service.slug,
            "component": usage.component.slug if usage.component else None,
        },
    )
    db.session.delete(usage)
    db.session.flush()


def assign_manager(
    tenant: Tenant, user: User, *, actor, now: dt.datetime
) -> AccountManagerAssignment:
    """Make a staff account manager responsible for ``tenant``."""
    if not (user.is_staff and user.is_account_manager and user.active):
        raise InvalidInput(f"{user.name} is not an active account manager", field="user")
    exists = db.session.execute(
        select(AccountManagerAssignment.id).where(
            AccountManagerAssignment.tenant_id == tenant.id,
            AccountManagerAssignment.user_id == user.id,
        )
    ).first()
    if exists:
        raise InvalidInput(f"{user.name} already manages {tenant.name}", field="user")
    assignment = AccountManagerAssignment(tenant_id=tenant.id, user_id=user.id)
    db.session.add(assignment)
    db.session.flush()
    record(
        "account_manager.assigned",
        subject_type="tenant",
        subject_id=tenant.id,
        tenant_id=tenant.id,
        actor=actor,
        now=now,
        payload={"user_id": user.id, "email": user.email},
    )
    return assignment


def unassign_manager(assignment: AccountManagerAssignment, *, actor, now: dt.datetime) -> None:
    """Take an account manager off a tenant."""
    record(
        "account_manager.unassigned",
        subject_type="tenant",
        subject_id=assignment.tenant_id,
        tenant_id=assignment.tenant_id,
        actor=actor,
        now=now,
        payload={"user_id": assignment.user_id, "email": assignment.user.email},
    )
    db.session.delete(assignment)
    db.session.flush()
