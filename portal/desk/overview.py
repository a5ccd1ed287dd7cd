"""The desk's lists: my tenants, the changes affecting them, and one tenant's history.

Account managers see the tenants assigned to them, admins every tenant
(``portal.access.tenant_ids_visible_to``); every count is restricted the same way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, and_, case, exists, func, not_, select

from portal.access import tenant_filter
from portal.acks.models import Acknowledgement, Objection, Waiver
from portal.changes.models import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    PUBLISHED_STATUSES,
    SCHEDULED,
    Change,
    NoticeBreach,
)
from portal.desk import evidence as ev
from portal.desk.matrix import CT, acknowledged, search_clause
from portal.desk.params import Listing
from portal.extensions import db
from portal.pagination import RowsPage, paginate_rows
from portal.tenants.models import Tenant


def _paginate(query: Select, listing: Listing, order) -> RowsPage:
    """The listing's page of ``query`` in ``order`` (a page past the end shows the last)."""
    return paginate_rows(query.order_by(*order), page=listing.page, per_page=listing.per_page)


def my_tenants(user, listing: Listing) -> RowsPage:
    """The tenants the user looks after, searched and paginated."""
    query = select(Tenant.id, Tenant.slug, Tenant.name, Tenant.first_party).where(
        tenant_filter(Tenant.id, user)
    )
    if listing.q:
        query = query.where(search_clause(listing.q))
    return _paginate(query, listing, (Tenant.name, Tenant.id))


@dataclass
class ChangeLine:
    """A published change affecting some of my tenants, with their progress."""

    change: Change
    tenants: int
    delivered: int
    acknowledged: int
    needs_chasing: int = 0  # told, not acknowledged, and the change asks for acknowledgement


# The desk's tabs (issue #16 item 3): what is still ahead, soonest first, and what is over.
UPCOMING, PAST = "upcoming", "past"
WHEN = {UPCOMING: (SCHEDULED, IN_PROGRESS), PAST: (COMPLETED, CANCELLED)}


def my_changes(user, listing: Listing, when: str | None = None) -> RowsPage:
    """Published changes affecting my tenants with per-change counts (two statements for the
    page, whatever the number of tenants): all of them latest start first, or with ``when``
    the upcoming ones soonest first or the past ones latest first."""
    mine = exists().where(
        CT.change_id == Change.id, CT.active.is_(True), tenant_filter(CT.tenant_id, user)
    )
    statuses = WHEN.get(when or "", PUBLISHED_STATUSES)
    query = select(Change).where(Change.status.in_(statuses), mine)
    if listing.q:
        needle = listing.q.lower()
        query = query.where(func.lower(Change.title).contains(needle, autoescape=True))
    order = (
        (Change.starts_at, Change.id)
        if when == UPCOMING
        else (Change.starts_at.desc(), Change.id.desc())
    )
    page = _paginate(query, listing, order)
    changes = [r[0] for r in page.items]
    counts = {}
    if changes:
        counts = {
            r.change_id: r
            for r in db.session.execute(
                select(
                    CT.change_id,
                    func.count(CT.id).label("tenants"),
                    func.sum(case((CT.notice_given_at.is_not(None), 1), else_=0)).label(
                        "delivered"
                    ),
                    func.sum(case((acknowledged(), 1), else_=0)).label("acknowledged"),
                    func.sum(
                        case(
                            (and_(CT.notice_given_at.is_not(None), not_(acknowledged())), 1),
                            else_=0,
                        )
                    ).label("silent"),
                )
                .where(
                    CT.change_id.in_([c.id for c in changes]),
                    CT.active.is_(True),
                    tenant_filter(CT.tenant_id, user),
                )
                .group_by(CT.change_id)
            )
        }
    lines = []
    for change in changes:
        c = counts.get(change.id)
        lines.append(
            ChangeLine(
                change,
                int(c.tenants) if c else 0,
                int(c.delivered or 0) if c else 0,
                int(c.acknowledged or 0) if c else 0,
                int(c.silent or 0) if c and change.ack_required else 0,
            )
        )
    page.items = lines
    return page


@dataclass
class HistoryLine:
    """One change that affected the tenant, with its notice and acknowledgement."""

    change: Change
    active: bool
    required_seconds: int
    clock_revision: int
    delivery: ev.Delivery
    ack: Acknowledgement | None
    objections: list[Objection]
    waivers: list[Waiver]
    breaches: list[NoticeBreach]


def tenant_history(tenant: Tenant, listing: Listing) -> RowsPage:
    """Every published change that affected ``tenant`` (even if no longer), newest first."""
    query = (
        select(Change, CT)
        .join(CT, CT.change_id == Change.id)
        .where(CT.tenant_id == tenant.id, Change.status.in_(PUBLISHED_STATUSES))
    )
    if listing.q:
        needle = listing.q.lower()
        query = query.where(func.lower(Change.title).contains(needle, autoescape=True))
    page = _paginate(query, listing, (Change.starts_at.desc(), Change.id.desc()))
    rows = page.items
    found = ev.load([c.id for c, _ in rows], [tenant.id], [(c.id, tenant.id) for c, _ in rows])
    lines = []
    for change, ct in rows:
        evidence = found[(change.id, tenant.id)]
        lines.append(
            HistoryLine(
                change,
                ct.active,
                ct.required_notice_seconds,
                ct.clock_revision,
                ev.delivery_of(evidence, ct.clock_revision, ct.notice_given_at),
                ev.counted_ack(evidence, ct.clock_revision),
                evidence.objections,
                evidence.waivers,
                evidence.breaches,
            )
        )
    page.items = lines
    return page


def history_dict(line: HistoryLine) -> dict:
    def iso(v: dt.datetime | None) -> str | None:
        return None if v is None else v.astimezone(dt.UTC).isoformat()

    return {
        "change_id": line.change.id,
        "title": line.change.title,
        "status": line.change.status,
        "impact": line.change.impact,
        "starts_at": iso(line.change.starts_at),
        "still_affected": line.active,
        "required_notice_seconds": line.required_seconds,
        "notice": {
            "state": line.delivery.state,
            "delivered_at": iso(line.delivery.at),
            "reason": line.delivery.reason or None,
        },
        "acknowledged": None
        if line.ack is None
        else {"at": iso(line.ack.at), "by": line.ack.actor_label, "channel": line.ack.channel},
        "objections": len(line.objections),
        "waived": bool(line.waivers),
        "breached": bool(line.breaches),
    }


def tenant_dict(row) -> dict:
    return {"id": row.id, "slug": row.slug, "name": row.name, "first_party": bool(row.first_party)}


def change_line_dict(line: ChangeLine) -> dict:
    c = line.change
    return {
        "id": c.id,
        "title": c.title,
        "status": c.status,
        "impact": c.impact,
        "starts_at": c.starts_at.astimezone(dt.UTC).isoformat(),
        "my_tenants": line.tenants,
        "delivered": line.delivered,
        "acknowledged": line.acknowledged,
    }


def visible_change_or_404(change_id: int, user) -> Change:
    """A published change affecting at least one of the user's tenants, else 404."""
    from flask import abort

    change = db.session.execute(
        select(Change).where(
            Change.id == change_id,
            Change.status.in_(PUBLISHED_STATUSES),
            exists().where(CT.change_id == Change.id, tenant_filter(CT.tenant_id, user)),
        )
    ).scalar_one_or_none()
    if change is None:
        abort(404)
    return change
