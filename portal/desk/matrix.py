"""The per-change matrix: tenant × {notice delivered, gate, acknowledged, objection, waiver,
breach}, filtered, searched and paginated, restricted to the tenants the user may see.

A page costs a constant number of statements: one count, one page of rows, one summary and
the five evidence queries of ``portal.desk.evidence`` for the page's tenants only.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import and_, case, exists, func, not_, select

from portal.access import tenant_filter
from portal.acks.models import Acknowledgement, Objection, Waiver
from portal.changes import rules
from portal.changes.models import Change, ChangeTenant, NoticeBreach
from portal.desk import evidence as ev
from portal.desk.params import Listing
from portal.extensions import db
from portal.pagination import RowsPage, paginate_rows
from portal.tenants.models import NoticeContact, Tenant

CT = ChangeTenant


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


# Correlated conditions on a change_tenants row.
def acknowledged():
    return exists().where(
        Acknowledgement.change_id == CT.change_id,
        Acknowledgement.tenant_id == CT.tenant_id,
        Acknowledgement.revision_number == CT.clock_revision,
        Acknowledgement.counts.is_(True),
    )


def objecting():
    return exists().where(
        Objection.change_id == CT.change_id,
        Objection.tenant_id == CT.tenant_id,
        Objection.answered_at.is_(None),
    )


def breached():
    return exists().where(
        NoticeBreach.change_id == CT.change_id, NoticeBreach.tenant_id == CT.tenant_id
    )


def waived():
    return exists().where(
        Waiver.change_id == CT.change_id,
        Waiver.tenant_id == CT.tenant_id,
        Waiver.revision_number == CT.clock_revision,
    )


FILTER_CLAUSES = {
    "not_acknowledged": lambda: not_(acknowledged()),
    "not_delivered": lambda: CT.notice_given_at.is_(None),
    "breached": breached,
    "objecting": objecting,
}


def search_clause(q: str):
    """Tenant name or slug contains ``q`` (case-insensitive, wildcards taken literally)."""
    needle = q.lower()
    return func.lower(Tenant.name).contains(needle, autoescape=True) | func.lower(
        Tenant.slug
    ).contains(needle, autoescape=True)


def _scope(change_id: int, user):
    return and_(CT.change_id == change_id, CT.active.is_(True), tenant_filter(CT.tenant_id, user))


@dataclass
class MatrixRow:
    """One tenant's line in the matrix."""

    tenant_id: int
    slug: str
    name: str
    first_party: bool
    required_seconds: int
    clock_revision: int
    delivery: ev.Delivery
    gate: rules.GateState
    ack: Acknowledgement | None
    objections: list[Objection]
    waivers: list[Waiver]
    breaches: list[NoticeBreach]
    contacts: list[tuple[str, str]] = field(default_factory=list)  # (email, name)

    @property
    def open_objection(self) -> Objection | None:
        return next((o for o in reversed(self.objections) if o.is_open), None)

    @property
    def waiver(self) -> Waiver | None:
        current = [w for w in self.waivers if w.revision_number == self.clock_revision]
        return current[-1] if current else None

    def as_dict(self) -> dict:
        ack, waiver, objection = self.ack, self.waiver, self.open_objection
        latest_objection = objection or (self.objections[-1] if self.objections else None)
        return {
            "tenant": self.slug,
            "name": self.name,
            "first_party": self.first_party,
            "required_notice_seconds": self.required_seconds,
            "clock_revision": self.clock_revision,
            "notice": {
                "state": self.delivery.state,
                "delivered_at": _iso(self.delivery.at),
                "reason": self.delivery.reason or None,
                "smtp_reply": self.delivery.smtp_reply or None,
                "attempts": self.delivery.attempts,
            },
            "gate": {
                "open": self.gate.open,
                "opens_at": _iso(self.gate.opens_at),
                "reason": self.gate.reason,
            },
            "acknowledged": None
            if ack is None
            else {"at": _iso(ack.at), "by": ack.actor_label, "channel": ack.channel},
            "objection": None
            if latest_objection is None
            else {
                "at": _iso(latest_objection.at),
                "by": latest_objection.actor_label,
                "reason": latest_objection.reason,
                "open": latest_objection.is_open,
                "answer": latest_objection.answer,
            },
            "waiver": None
            if waiver is None
            else {
                "at": _iso(waiver.at),
                "agreed_by": waiver.agreed_by,
                "channel": waiver.channel,
                "recorded_by": waiver.recorded_by_label,
            },
            "breach": [
                {
                    "revision": b.revision_number,
                    "required_notice_seconds": b.required_notice_seconds,
                    "given_notice_seconds": b.given_notice_seconds,
                    "justification": b.justification,
                }
                for b in self.breaches
            ]
            or None,
            "notice_contacts": [email for email, _ in self.contacts],
        }


def contacts_of(tenant_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """{tenant id: [(email, name), …]} of the given tenants' notice contacts, one statement."""
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if not tenant_ids:
        return found
    rows = db.session.execute(
        select(NoticeContact.tenant_id, NoticeContact.email, NoticeContact.name)
        .where(NoticeContact.tenant_id.in_(tenant_ids))
        .order_by(NoticeContact.tenant_id, NoticeContact.id)
    ).all()
    for tenant_id, email, name in rows:
        found[tenant_id].append((email, name or ""))
    return found


def _row_query(change: Change, user, listing: Listing):
    conditions = [_scope(change.id, user)]
    if listing.filter:
        conditions.append(FILTER_CLAUSES[listing.filter]())
    if listing.q:
        conditions.append(search_clause(listing.q))
    return (
        select(
            CT.tenant_id,
            Tenant.slug,
            Tenant.name,
            Tenant.first_party,
            CT.required_notice_seconds,
            CT.clock_revision,
            CT.notice_given_at,
            CT.waived_at,
            CT.emergency_approved_at,
        )
        .join(Tenant, Tenant.id == CT.tenant_id)
        .where(*conditions)
    )


def _build_rows(change: Change, records, now: dt.datetime) -> list[MatrixRow]:
    tenant_ids = [r.tenant_id for r in records]
    evidence = ev.load([change.id], tenant_ids, [(change.id, t) for t in tenant_ids])
    contacts = contacts_of(tenant_ids)
    rows = []
    for r in records:
        found = evidence[(change.id, r.tenant_id)]
        delivery = ev.delivery_of(found, r.clock_revision, r.notice_given_at)
        gate = ev.gate_state(
            status=change.status,
            starts_at=change.starts_at,
            required_seconds=r.required_notice_seconds,
            notice_given_at=r.notice_given_at,
            waived_at=r.waived_at,
            emergency_approved_at=r.emergency_approved_at,
            delivery=delivery,
            now=now,
        )
        rows.append(
            MatrixRow(
                r.tenant_id,
                r.slug,
                r.name,
                bool(r.first_party),
                r.required_notice_seconds,
                r.clock_revision,
                delivery,
                gate,
                ev.counted_ack(found, r.clock_revision),
                found.objections,
                found.waivers,
                found.breaches,
                contacts.get(r.tenant_id, []),
            )
        )
    return rows


def matrix_page(change: Change, user, listing: Listing, now: dt.datetime) -> RowsPage:
    """One page of the matrix (its ``items`` are ``MatrixRow``); a page past the end shows the
    last page."""
    query = _row_query(change, user, listing).order_by(Tenant.name, Tenant.id)
    page = paginate_rows(query, page=listing.page, per_page=listing.per_page)
    page.items = _build_rows(change, page.items, now)
    return page


def all_rows(
    change: Change, user, listing: Listing, now: dt.datetime, chunk: int = 500
) -> Iterator[MatrixRow]:
    """Every row matching the listing's filter and search, in chunks (for the CSV export)."""
    query = _row_query(change, user, listing).order_by(Tenant.name, Tenant.id)
    offset = 0
    while True:
        records = db.session.execute(query.limit(chunk).offset(offset)).all()
        if not records:
            return
        yield from _build_rows(change, records, now)
        offset += chunk


def summary(change: Change, user) -> dict:
    """Counts over every tenant the user may see, in one statement.

    Each answer is pre-aggregated for this change and outer-joined (rather than a correlated
    EXISTS per tenant), so the database can hash-join 10,000 tenants in one pass.
    """

    def answered(model, *conditions, per_revision: bool = False):
        cols = [model.tenant_id] + ([model.revision_number] if per_revision else [])
        return select(*cols).where(model.change_id == change.id, *conditions).distinct().subquery()

    acks = answered(Acknowledgement, Acknowledgement.counts.is_(True), per_revision=True)
    objections = answered(Objection, Objection.answered_at.is_(None))
    waivers = answered(Waiver, per_revision=True)
    breaches = answered(NoticeBreach)
    row = db.session.execute(
        select(
            func.count(CT.id).label("tenants"),
            func.count(CT.notice_given_at).label("delivered"),
            func.count(acks.c.tenant_id).label("acknowledged"),
            func.count(objections.c.tenant_id).label("objecting"),
            func.count(waivers.c.tenant_id).label("waived"),
            func.count(breaches.c.tenant_id).label("breached"),
            func.coalesce(func.sum(case((Tenant.first_party.is_(True), 1), else_=0)), 0).label(
                "first_party"
            ),
        )
        .join(Tenant, Tenant.id == CT.tenant_id)
        .outerjoin(
            acks,
            and_(acks.c.tenant_id == CT.tenant_id, acks.c.revision_number == CT.clock_revision),
        )
        .outerjoin(objections, objections.c.tenant_id == CT.tenant_id)
        .outerjoin(
            waivers,
            and_(
                waivers.c.tenant_id == CT.tenant_id, waivers.c.revision_number == CT.clock_revision
            ),
        )
        .outerjoin(breaches, breaches.c.tenant_id == CT.tenant_id)
        .where(_scope(change.id, user))
    ).one()
    data = {k: int(v) for k, v in row._mapping.items()}
    data["not_delivered"] = data["tenants"] - data["delivered"]
    data["not_acknowledged"] = data["tenants"] - data["acknowledged"]
    return data
