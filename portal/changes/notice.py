"""Loading what the notice rules need from the database, with set-based queries.

The affected tenants of a change are computed in one query over ``usages`` (a usage with no
component uses the whole service; a target naming a component affects tenants using that
component or the whole service), their contract terms in a second, never one query per tenant.
The answers are the plain dataclasses of ``portal.changes.rules``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, false, or_, select

from portal.catalog.models import Usage
from portal.changes import rules
from portal.changes.models import BlackoutWindow, Change, ImpactLevel, ServicePolicy
from portal.errors import InvalidInput
from portal.extensions import db
from portal.tenants.models import ContractTerm, Tenant

Target = tuple[int, int | None]  # (service_id, component_id or None)


@dataclass
class AffectedTenant:
    """A tenant using at least one touched service, and which of them it uses."""

    tenant_id: int
    slug: str
    name: str
    first_party: bool
    services: set[int] = field(default_factory=set)


@dataclass
class NoticePlan:
    """Everything the publish check and the form preview need for one proposed content."""

    impact_notice_seconds: int
    tenants: list[rules.TenantRequirement]
    affected: dict[int, AffectedTenant]

    @property
    def by_tenant(self) -> dict[int, rules.TenantRequirement]:
        return {t.tenant_id: t for t in self.tenants}


def current_targets(change: Change) -> tuple[tuple[int, int | None], ...]:
    """The change's (service id, component id or None) targets, sorted: what ``plan_notice``
    takes."""
    return tuple(
        sorted(
            ((t.service_id, t.component_id) for t in change.targets),
            key=lambda t: (t[0], t[1] or 0),
        )
    )


def usage_condition(targets: Sequence[Target]):
    """A WHERE clause on ``usages`` selecting the usages a change with ``targets`` touches."""
    clauses = []
    for service_id, component_id in targets:
        if component_id is None:
            clauses.append(Usage.service_id == service_id)
        else:
            clauses.append(
                and_(
                    Usage.service_id == service_id,
                    or_(Usage.component_id.is_(None), Usage.component_id == component_id),
                )
            )
    return or_(*clauses) if clauses else false()


def affected_tenants(
    targets: Sequence[Target], only_tenant: int | None = None
) -> dict[int, AffectedTenant]:
    """The tenants a change with ``targets`` affects (or just ``only_tenant``, if it does),
    keyed by id (one query)."""
    q = (
        select(Usage.tenant_id, Usage.service_id, Tenant.slug, Tenant.name, Tenant.first_party)
        .join(Tenant, Tenant.id == Usage.tenant_id)
        .where(usage_condition(targets))
    )
    if only_tenant is not None:
        q = q.where(Usage.tenant_id == only_tenant)
    rows = db.session.execute(q).all()
    found: dict[int, AffectedTenant] = {}
    for tenant_id, service_id, slug, name, first_party in rows:
        entry = found.get(tenant_id)
        if entry is None:
            entry = found[tenant_id] = AffectedTenant(tenant_id, slug, name, bool(first_party))
        entry.services.add(service_id)
    return found


def impact_notice(impact: str) -> int:
    """The impact level's global notice; an unknown level is a 400 naming ``impact``."""
    level = db.session.get(ImpactLevel, impact)
    if level is None:
        raise InvalidInput(f"unknown impact level {impact!r}", field="impact")
    return level.notice_seconds


def plan_notice(
    impact: str, targets: Sequence[Target], only_tenant: int | None = None
) -> NoticePlan:
    """Required notice for every tenant a change with this impact and reach would affect
    (or only for ``only_tenant``: a late joiner's requirement without reading everyone's)."""
    base = impact_notice(impact)
    service_ids = sorted({s for s, _ in targets})
    policies = (
        dict(
            db.session.execute(
                select(ServicePolicy.service_id, ServicePolicy.notice_seconds).where(
                    ServicePolicy.service_id.in_(service_ids), ServicePolicy.impact == impact
                )
            ).all()
        )
        if service_ids
        else {}
    )
    affected = affected_tenants(targets, only_tenant)
    terms: dict[int, list[rules.ContractTermData]] = {}
    if affected:
        tenant_subquery = select(Usage.tenant_id).where(usage_condition(targets))
        if only_tenant is not None:
            tenant_subquery = tenant_subquery.where(Usage.tenant_id == only_tenant)
        for tenant_id, service_id, seconds, reference in db.session.execute(
            select(
                ContractTerm.tenant_id,
                ContractTerm.service_id,
                ContractTerm.notice_seconds,
                ContractTerm.reference,
            ).where(
                ContractTerm.tenant_id.in_(tenant_subquery),
                or_(ContractTerm.service_id.is_(None), ContractTerm.service_id.in_(service_ids)),
            )
        ):
            terms.setdefault(tenant_id, []).append(
                rules.ContractTermData(seconds, service_id, reference or "")
            )
    tenants = []
    for tenant_id, entry in sorted(affected.items()):
        req = rules.required_notice(
            impact=impact,
            impact_notice_seconds=base,
            service_policies=policies,
            contract_terms=terms.get(tenant_id, ()),
            services_used=entry.services,
        )
        tenants.append(
            rules.TenantRequirement(tenant_id, entry.slug, entry.name, req.seconds, req.basis)
        )
    base_required = max([base, *policies.values()])
    return NoticePlan(base_required, tenants, affected)


def blackouts_overlapping(
    starts_at: dt.datetime, ends_at: dt.datetime, targets: Sequence[Target]
) -> list[rules.Blackout]:
    """Provider-wide blackouts and those of affected tenants overlapping [start, end)."""
    tenant_subquery = select(Usage.tenant_id).where(usage_condition(targets))
    rows = db.session.execute(
        select(BlackoutWindow, Tenant.slug)
        .outerjoin(Tenant, Tenant.id == BlackoutWindow.tenant_id)
        .where(
            BlackoutWindow.starts_at < ends_at,
            BlackoutWindow.ends_at > starts_at,
            or_(BlackoutWindow.tenant_id.is_(None), BlackoutWindow.tenant_id.in_(tenant_subquery)),
        )
        .order_by(BlackoutWindow.starts_at)
    ).all()
    return [
        rules.Blackout(w.starts_at, w.ends_at, w.tenant_id, w.reason, w.id, slug)
        for w, slug in rows
    ]
