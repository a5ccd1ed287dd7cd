"""A customer user's opt-in to optional change notices, by impact level and service.

Contractual notices go to the tenant's notice contacts whatever anyone prefers; these
preferences only decide the optional copies a tenant user asks for (DESIGN.md "Delivery").
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from portal.catalog.models import Service, Usage
from portal.changes.models import ImpactLevel
from portal.errors import InvalidInput
from portal.extensions import db
from portal.ledger.services import record
from portal.notify.models import EmailPreference, EmailPreferenceService


def impact_choices() -> list[tuple[str, str]]:
    levels = db.session.execute(
        select(ImpactLevel.code, ImpactLevel.name).order_by(ImpactLevel.rank)
    ).all()
    return [(code, name) for code, name in levels]


def tenant_services(tenant_id: int) -> list[tuple[int, str]]:
    """The services the tenant uses (the only ones a preference may name)."""
    return [
        (sid, name)
        for sid, name in db.session.execute(
            select(Service.id, Service.name)
            .join(Usage, Usage.service_id == Service.id)
            .where(Usage.tenant_id == tenant_id)
            .distinct()
            .order_by(Service.name)
        )
    ]


def preference_of(user) -> EmailPreference | None:
    return db.session.scalar(select(EmailPreference).where(EmailPreference.user_id == user.id))


def save_preference(
    user, *, min_impact: str | None, all_services: bool, service_ids: list[int], now: dt.datetime
) -> EmailPreference:
    """Store ``user``'s choice (customer users only). Flushes; the caller commits."""
    if not user.is_customer:
        raise InvalidInput("Only customer users choose optional change notices.")
    if min_impact and min_impact not in dict(impact_choices()):
        raise InvalidInput("Unknown impact level.", field="min_impact")
    allowed = {sid for sid, _ in tenant_services(user.tenant_id)}
    chosen = sorted(set(service_ids))
    if any(sid not in allowed for sid in chosen):
        raise InvalidInput("Choose among the services your organisation uses.", field="services")
    if min_impact and not all_services and not chosen:
        raise InvalidInput("Choose at least one service, or all services.", field="services")
    pref = preference_of(user)
    if pref is None:
        pref = EmailPreference(user_id=user.id, tenant_id=user.tenant_id)
        db.session.add(pref)
    pref.min_impact = min_impact or None
    pref.all_services = bool(all_services)
    pref.updated_at = now
    pref.services = [
        EmailPreferenceService(service_id=sid) for sid in ([] if all_services else chosen)
    ]
    db.session.flush()
    record(
        "email.preferences_changed",
        subject_type="user",
        subject_id=user.id,
        tenant_id=user.tenant_id,
        actor=user,
        now=now,
        payload={
            "min_impact": pref.min_impact,
            "all_services": pref.all_services,
            "services": [] if all_services else chosen,
        },
    )
    return pref
