"""``forewarn import``: tenants, notice contacts and usage from CSV, all or nothing.

Two phases. ``plan_import`` reads and validates every file against the database without
writing anything, and returns either the errors (file, line, column, reason — all of them)
or the plan. ``apply_plan`` then writes the plan in the caller's transaction with one ledger
entry per tenant touched (``tenant.imported``, naming what was added or changed for it) and an
``import.applied`` summary; the caller commits once, so an import is never partial.

Upserts by natural key make a re-run harmless: tenants by slug (name, zone and first-party
flag updated when given and different), contacts by (tenant, email), usage by (tenant,
service, component). Nothing is ever deleted by an import. The format is in docs/import.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, insert, select

from portal import hooks
from portal.catalog.models import Component, Service, Usage
from portal.errors import InvalidInput
from portal.extensions import db
from portal.inputs import check_single_line
from portal.ledger.services import Fact, record_many
from portal.tenants.csv_files import CsvFile, Row, RowError, read_csv
from portal.tenants.models import NoticeContact, Tenant
from portal.tenants.services import check_slug, normalise_email
from portal.timezones import is_zone

TENANT_COLUMNS = (("slug", "name"), ("time_zone", "first_party"))
CONTACT_COLUMNS = (("tenant", "email"), ("name",))
USAGE_COLUMNS = (("tenant", "service"), ("component",))

TRUE = {"1", "true", "yes", "y"}
FALSE = {"0", "false", "no", "n"}
ACTOR = "forewarn import"


@dataclass
class TenantRow:
    slug: str
    name: str
    time_zone: str | None  # None: keep the tenant's (UTC for a new one)
    first_party: bool | None


@dataclass
class Plan:
    """What an import would do; empty lists mean "nothing to do"."""

    new_tenants: list[TenantRow] = field(default_factory=list)
    changed_tenants: list[tuple[Tenant, TenantRow]] = field(default_factory=list)
    unchanged_tenants: int = 0
    new_contacts: list[tuple[str, str, str]] = field(default_factory=list)  # slug, email, name
    known_contacts: int = 0
    new_usages: list[tuple[str, Service, Component | None]] = field(default_factory=list)
    known_usages: int = 0

    def summary(self) -> str:
        return (
            f"tenants: {len(self.new_tenants)} new, {len(self.changed_tenants)} updated, "
            f"{self.unchanged_tenants} unchanged; contacts: {len(self.new_contacts)} new, "
            f"{self.known_contacts} already present; usage: {len(self.new_usages)} new, "
            f"{self.known_usages} already present"
        )


class ImportRefused(Exception):
    """The files have errors; nothing was written. ``errors`` lists every one of them."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} error(s) in the import files")
        self.errors = errors


def plan_import(
    *, tenants: Path | None = None, contacts: Path | None = None, usage: Path | None = None
) -> Plan:
    """Validate every file against the database (read-only); raise ImportRefused on any error."""
    errors: list[RowError] = []
    files = {}
    for key, path, (required, optional) in (
        ("tenants", tenants, TENANT_COLUMNS),
        ("contacts", contacts, CONTACT_COLUMNS),
        ("usage", usage, USAGE_COLUMNS),
    ):
        if path is not None:
            files[key] = read_csv(path, required=required, optional=optional)
            errors += files[key].errors
    plan = Plan()
    existing = {t.slug: t for t in db.session.execute(select(Tenant)).scalars()}
    if "tenants" in files:
        errors += _plan_tenants(files["tenants"], existing, plan)
    known_slugs = set(existing) | {t.slug for t in plan.new_tenants}
    if "contacts" in files:
        errors += _plan_contacts(files["contacts"], existing, known_slugs, plan)
    if "usage" in files:
        errors += _plan_usage(files["usage"], existing, known_slugs, plan)
    if errors:
        raise ImportRefused(sorted(errors, key=lambda e: (e.file, e.line)))
    return plan


def _check(
    errors: list[RowError], csv_file: CsvFile, row: Row, column: str, check: Callable[[str], object]
):
    """``check(row[column])``, or None after noting the InvalidInput it raised."""
    try:
        return check(row[column])
    except InvalidInput as err:
        errors.append(RowError(csv_file.name, row.line, column, err.message))
        return None


def _name(value: str) -> str:
    if not value:
        raise InvalidInput("a name is required")
    return _optional_name(value)


def _optional_name(value: str) -> str:
    if len(value) > 200:
        raise InvalidInput("at most 200 characters")
    return check_single_line(value, "name")


def _zone(value: str) -> str | None:
    if not value:
        return None
    if not is_zone(value):
        raise InvalidInput(f"unknown time zone {value!r} (use an IANA name, e.g. Europe/Berlin)")
    return value


def _flag(value: str) -> bool | None:
    text = value.lower()
    if not text:
        return None
    if text in TRUE | FALSE:
        return text in TRUE
    raise InvalidInput(f"{value!r} is not yes/no (use yes, no, true, false, 1 or 0)")


def _plan_tenants(csv_file: CsvFile, existing: dict[str, Tenant], plan: Plan) -> list[RowError]:
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for row in csv_file.rows:
        before = len(errors)
        slug = _check(errors, csv_file, row, "slug", check_slug)
        name = _check(errors, csv_file, row, "name", _name)
        zone = _check(errors, csv_file, row, "time_zone", _zone)
        first_party = _check(errors, csv_file, row, "first_party", _flag)
        if slug and slug in seen:
            errors.append(
                RowError(
                    csv_file.name,
                    row.line,
                    "slug",
                    f"duplicate slug {slug!r} (first on line {seen[slug]})",
                )
            )
        elif slug:
            seen[slug] = row.line
        if len(errors) > before:
            continue
        wanted = TenantRow(slug, name, zone, first_party)
        tenant = existing.get(slug)
        if tenant is None:
            plan.new_tenants.append(wanted)
        elif _differs(tenant, wanted):
            plan.changed_tenants.append((tenant, wanted))
        else:
            plan.unchanged_tenants += 1
    return errors


def _differs(tenant: Tenant, wanted: TenantRow) -> bool:
    return (
        tenant.name != wanted.name
        or (wanted.time_zone is not None and tenant.time_zone != wanted.time_zone)
        or (wanted.first_party is not None and tenant.first_party != wanted.first_party)
    )


def _tenant_slug(known: set[str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value:
            raise InvalidInput("a tenant slug is required")
        if value not in known:
            raise InvalidInput(
                f"unknown tenant {value!r} (not in the database or the tenants file)"
            )
        return value

    return check


def _plan_contacts(
    csv_file: CsvFile, existing: dict[str, Tenant], known: set[str], plan: Plan
) -> list[RowError]:
    errors: list[RowError] = []
    ids = {t.id: slug for slug, t in existing.items()}
    present = {
        (ids[tid], email)
        for tid, email in db.session.execute(
            select(NoticeContact.tenant_id, func.lower(NoticeContact.email))
        )
    }
    seen: dict[tuple[str, str], int] = {}
    for row in csv_file.rows:
        before = len(errors)
        slug = _check(errors, csv_file, row, "tenant", _tenant_slug(known))
        email = _check(errors, csv_file, row, "email", normalise_email)
        name = _check(errors, csv_file, row, "name", _optional_name)
        key = (slug, email)
        if slug and email and key in seen:
            errors.append(
                RowError(
                    csv_file.name,
                    row.line,
                    "email",
                    f"duplicate contact {email} for {slug} (first on line {seen[key]})",
                )
            )
        elif slug and email:
            seen[key] = row.line
        if len(errors) > before:
            continue
        if key in present:
            plan.known_contacts += 1
        else:
            plan.new_contacts.append((slug, email, name or ""))
    return errors


def _plan_usage(
    csv_file: CsvFile, existing: dict[str, Tenant], known: set[str], plan: Plan
) -> list[RowError]:
    errors: list[RowError] = []
    services = {s.slug: s for s in db.session.execute(select(Service)).scalars()}
    components = {
        (c.service_id, c.slug): c for c in db.session.execute(select(Component)).scalars()
    }
    ids = {t.id: slug for slug, t in existing.items()}
    present = {
        (ids[t], s, c)
        for t, s, c in db.session.execute(
            select(Usage.tenant_id, Usage.service_id, Usage.component_id)
        )
    }
    seen: dict[tuple, int] = {}
    for row in csv_file.rows:
        before = len(errors)
        slug = _check(errors, csv_file, row, "tenant", _tenant_slug(known))
        service = services.get(row["service"])
        component = None
        if service is None:
            errors.append(
                RowError(
                    csv_file.name,
                    row.line,
                    "service",
                    f"unknown service {row['service']!r}"
                    if row["service"]
                    else "a service slug is required",
                )
            )
        elif row["component"]:
            component = components.get((service.id, row["component"]))
            if component is None:
                errors.append(
                    RowError(
                        csv_file.name,
                        row.line,
                        "component",
                        f"{service.slug} has no component {row['component']!r}",
                    )
                )
        if len(errors) > before or service is None:  # a missing service is an error above
            continue
        key = (slug, service.id, component.id if component else None)
        if key in seen:
            errors.append(
                RowError(
                    csv_file.name, row.line, None, f"duplicate usage (first on line {seen[key]})"
                )
            )
            continue
        seen[key] = row.line
        if key in present:
            plan.known_usages += 1
        else:
            plan.new_usages.append((slug, service, component))
    return errors


def apply_plan(
    plan: Plan, *, now: dt.datetime, progress: Callable[[int], None] = lambda n: None
) -> None:
    """Write ``plan`` in the caller's transaction, with its ledger entries; flushes only.

    Rows are inserted in bulk (thousands of customers), and the ledger gets one
    ``tenant.imported`` entry per tenant touched, naming everything added or changed for it.
    """
    changes: dict[str, dict] = {}

    def change_of(slug: str) -> dict:
        return changes.setdefault(slug, {"slug": slug})

    if plan.new_tenants:
        db.session.execute(
            insert(Tenant),
            [
                {
                    "slug": t.slug,
                    "name": t.name,
                    "time_zone": t.time_zone or "UTC",
                    "first_party": bool(t.first_party),
                    "created_at": now,
                }
                for t in plan.new_tenants
            ],
        )
    for t in plan.new_tenants:
        change_of(t.slug)["created"] = {
            "name": t.name,
            "time_zone": t.time_zone or "UTC",
            "first_party": bool(t.first_party),
        }
    progress(len(plan.new_tenants))
    for tenant, wanted in plan.changed_tenants:
        before = _state(tenant)
        tenant.name = wanted.name
        if wanted.time_zone is not None:
            tenant.time_zone = wanted.time_zone
        if wanted.first_party is not None:
            tenant.first_party = wanted.first_party
        change_of(tenant.slug)["updated"] = {"before": before, "after": _state(tenant)}
    db.session.flush()
    progress(len(plan.changed_tenants))
    by_slug = dict(db.session.execute(select(Tenant.slug, Tenant.id)).all())
    if plan.new_contacts:
        db.session.execute(
            insert(NoticeContact),
            [
                {"tenant_id": by_slug[slug], "email": email, "name": name, "created_at": now}
                for slug, email, name in plan.new_contacts
            ],
        )
    for slug, email, _ in plan.new_contacts:
        change_of(slug).setdefault("contacts_added", []).append(email)
    if plan.new_usages:
        db.session.execute(
            insert(Usage),
            [
                {
                    "tenant_id": by_slug[slug],
                    "service_id": service.id,
                    "component_id": component.id if component else None,
                }
                for slug, service, component in plan.new_usages
            ],
        )
    for slug, service, component in plan.new_usages:
        change_of(slug).setdefault("usage_added", []).append(
            f"{service.slug}/{component.slug}" if component else service.slug
        )
    progress(len(plan.new_contacts) + len(plan.new_usages))
    facts = [
        Fact("tenant.imported", "tenant", by_slug[slug], payload, by_slug[slug])
        for slug, payload in changes.items()
    ]
    facts.append(Fact("import.applied", "import", now.isoformat(), {"summary": plan.summary()}))
    record_many(facts, actor=ACTOR, now=now)
    _announce_to_new_reach(plan, by_slug, now)


def _announce_to_new_reach(plan: Plan, by_slug: dict[str, int], now: dt.datetime) -> None:
    """Late joiners (DESIGN.md "The affected set moves"): tenants the import made affected by
    an open change, or gave their first reachable contact, are told at once."""
    for slug in sorted({slug for slug, _s, _c in plan.new_usages}):
        hooks.usage_added.call(by_slug[slug], actor=ACTOR, now=now)
    for slug in sorted({slug for slug, _e, _n in plan.new_contacts}):
        hooks.contacts_changed.call(by_slug[slug], actor=ACTOR, now=now)


def _state(tenant: Tenant) -> dict:
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "time_zone": tenant.time_zone,
        "first_party": tenant.first_party,
    }


def plan_size(plan: Plan) -> int:
    return (
        len(plan.new_tenants)
        + len(plan.changed_tenants)
        + len(plan.new_contacts)
        + len(plan.new_usages)
    )
