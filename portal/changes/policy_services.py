"""Admin-managed notice rules: impact levels, per-service policies, tenants' contract terms.

Each service checks its input, flushes, and writes a ledger entry; the view commits. Changing
a policy affects the publish checks that follow; already published changes keep the notice
they were given (``services.revise`` never shortens it).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from portal.catalog.models import Service
from portal.changes.models import ImpactLevel, ServicePolicy
from portal.errors import Conflict, InvalidInput, NotFound
from portal.extensions import db
from portal.ledger.services import record
from portal.tenants.models import ContractTerm, Tenant

HOUR = 3600
MAX_NOTICE_SECONDS = 3650 * 24 * HOUR


def _seconds(hours, field: str = "notice_hours") -> int:
    if not isinstance(hours, int) or isinstance(hours, bool) or hours < 1:
        raise InvalidInput("the notice must be a whole number of hours, at least 1", field=field)
    seconds = hours * HOUR
    if seconds > MAX_NOTICE_SECONDS:
        raise InvalidInput("the notice cannot exceed ten years", field=field)
    return seconds


def add_impact_level(
    *, code: str, name: str, rank: int, notice_hours: int, actor, now: dt.datetime
) -> ImpactLevel:
    """A new impact level (admin-extendable list) with its global notice."""
    code = (code or "").strip().lower()
    if not code:
        raise InvalidInput("a code is required", field="code")
    if db.session.get(ImpactLevel, code) is not None:
        raise Conflict(f"impact level {code!r} already exists", field="code")
    if db.session.execute(select(ImpactLevel.code).where(ImpactLevel.rank == rank)).first():
        raise InvalidInput(f"another impact level already has rank {rank}", field="rank")
    level = ImpactLevel(
        code=code, name=(name or code).strip(), rank=rank, notice_seconds=_seconds(notice_hours)
    )
    db.session.add(level)
    db.session.flush()
    record(
        "policy.impact_level_added",
        subject_type="impact_level",
        subject_id=code,
        actor=actor,
        now=now,
        payload={"name": level.name, "rank": rank, "notice_seconds": level.notice_seconds},
    )
    return level


def set_impact_notice(
    level: ImpactLevel, *, notice_hours: int, actor, now: dt.datetime
) -> ImpactLevel:
    """Change an impact level's global notice."""
    old = level.notice_seconds
    level.notice_seconds = _seconds(notice_hours)
    db.session.flush()
    record(
        "policy.impact_notice_changed",
        subject_type="impact_level",
        subject_id=level.code,
        actor=actor,
        now=now,
        payload={"old_seconds": old, "new_seconds": level.notice_seconds},
    )
    return level


def set_service_policy(
    *, service_id: int, impact: str, notice_hours: int, actor, now: dt.datetime
) -> ServicePolicy:
    """Tighten one service's notice for one impact level (creates or replaces the policy).

    Refused when it would not tighten: policies only ever add notice to the global level."""
    service = db.session.get(Service, service_id) if isinstance(service_id, int) else None
    if service is None:
        raise InvalidInput("unknown service", field="service")
    level = db.session.get(ImpactLevel, impact) if isinstance(impact, str) else None
    if level is None:
        raise InvalidInput(f"unknown impact level {impact!r}", field="impact")
    seconds = _seconds(notice_hours)
    if seconds <= level.notice_seconds:
        raise InvalidInput(
            f"{level.name} already needs {level.notice_seconds // HOUR} h everywhere; a service "
            "policy can only ask for more",
            field="notice_hours",
        )
    policy = db.session.execute(
        select(ServicePolicy).where(
            ServicePolicy.service_id == service.id, ServicePolicy.impact == impact
        )
    ).scalar_one_or_none()
    old = policy.notice_seconds if policy else None
    if policy is None:
        policy = ServicePolicy(service_id=service.id, impact=impact, notice_seconds=seconds)
        db.session.add(policy)
    else:
        policy.notice_seconds = seconds
    db.session.flush()
    record(
        "policy.service_policy_set",
        subject_type="service_policy",
        subject_id=f"{service.slug}:{impact}",
        actor=actor,
        now=now,
        payload={
            "service": service.slug,
            "impact": impact,
            "old_seconds": old,
            "new_seconds": seconds,
        },
    )
    return policy


def delete_service_policy(policy: ServicePolicy, *, actor, now: dt.datetime) -> None:
    record(
        "policy.service_policy_removed",
        subject_type="service_policy",
        subject_id=f"{policy.service.slug}:{policy.impact}",
        actor=actor,
        now=now,
        payload={
            "service": policy.service.slug,
            "impact": policy.impact,
            "old_seconds": policy.notice_seconds,
        },
    )
    db.session.delete(policy)
    db.session.flush()


def add_contract_term(
    tenant: Tenant,
    *,
    service_id: int | None,
    notice_hours: int,
    reference: str | None,
    actor,
    now: dt.datetime,
) -> ContractTerm:
    """A contractual notice for a tenant: for every service (``service_id`` None) or one."""
    service = None
    if service_id:
        service = db.session.get(Service, service_id)
        if service is None:
            raise InvalidInput("unknown service", field="service")
    term = ContractTerm(
        tenant_id=tenant.id,
        service_id=service.id if service else None,
        notice_seconds=_seconds(notice_hours),
        reference=(reference or "").strip()[:200],
    )
    db.session.add(term)
    db.session.flush()
    record(
        "contract.term_added",
        subject_type="contract_term",
        subject_id=term.id,
        tenant_id=tenant.id,
        actor=actor,
        now=now,
        payload={
            "service": service.slug if service else None,
            "notice_seconds": term.notice_seconds,
            "reference": term.reference,
        },
    )
    return term


def delete_contract_term(term: ContractTerm, *, actor, now: dt.datetime) -> None:
    record(
        "contract.term_removed",
        subject_type="contract_term",
        subject_id=term.id,
        tenant_id=term.tenant_id,
        actor=actor,
        now=now,
        payload={
            "service": term.service.slug if term.service else None,
            "notice_seconds": term.notice_seconds,
            "reference": term.reference,
        },
    )
    db.session.delete(term)
    db.session.flush()


def get_term_or_404(tenant: Tenant, term_id: int) -> ContractTerm:
    term = db.session.get(ContractTerm, term_id)
    if term is None or term.tenant_id != tenant.id:
        raise NotFound("no such contract term")
    return term
