"""The equal-notice report of a change (DESIGN.md "Proof" → "Equal notice").

For each revision that was announced: when each tenant's contractual notice was accepted by
the SMTP server (the first accepted message to one of its notice contacts), the spread between
the first and the last tenant, first-party against third-party times, and a flag when any
first-party tenant was told before any third-party tenant.

Least disclosure (issue 17 item 7): admins and the owning team see every tenant by name; an
account manager sees by name only the tenants assigned to them, and every other tenant only
inside the aggregates (counts, first / median / last times), never its name or own time.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from operator import itemgetter

from flask import abort
from sqlalchemy import case, exists, func, select

from portal.access import tenant_filter
from portal.changes.models import PUBLISHED_STATUSES, Change, ChangeTenant, Revision
from portal.changes.queries import can_manage
from portal.extensions import db
from portal.notify.models import NOTICE, SENT, OutboxMessage
from portal.sqltypes import UTCDateTime
from portal.tenants.models import Tenant


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def change_or_404(change_id: int, user) -> Change:
    """Staff only: admins, the owning team, and account managers of an affected tenant."""
    change = db.session.execute(
        select(Change).where(Change.id == change_id, Change.status.in_(PUBLISHED_STATUSES))
    ).scalar_one_or_none()
    if change is None or not user.is_staff:
        abort(404)
    if user.is_admin or can_manage(user, change):
        return change
    if (
        user.is_account_manager
        and db.session.execute(
            select(
                exists().where(
                    ChangeTenant.change_id == change.id, tenant_filter(ChangeTenant.tenant_id, user)
                )
            )
        ).scalar()
    ):
        return change
    abort(404)


@dataclass
class TenantNotice:
    slug: str
    name: str
    first_party: bool
    at: dt.datetime | None

    def as_dict(self) -> dict:
        return {
            "tenant": self.slug,
            "name": self.name,
            "first_party": self.first_party,
            "notice_given_at": iso(self.at),
        }


def _group(notices: list[TenantNotice]) -> dict:
    times = sorted(n.at for n in notices if n.at is not None)
    median = None
    if times:
        base = times[0]
        median = base + dt.timedelta(
            seconds=statistics.median((t - base).total_seconds() for t in times)
        )
    return {
        "tenants": len(notices),
        "delivered": len(times),
        "first_at": iso(times[0] if times else None),
        "median_at": iso(median),
        "last_at": iso(times[-1] if times else None),
    }


@dataclass
class RevisionReport:
    number: int
    kind: str
    material: bool
    announced_at: dt.datetime
    notices: list[TenantNotice] = field(default_factory=list)

    @property
    def delivered(self) -> list[tuple[dt.datetime, TenantNotice]]:
        """(when, notice) of each tenant told, earliest first."""
        return sorted(((n.at, n) for n in self.notices if n.at is not None), key=itemgetter(0))

    @property
    def spread_seconds(self) -> float | None:
        d = self.delivered
        return (d[-1][0] - d[0][0]).total_seconds() if d else None

    @property
    def told_earlier(self) -> tuple[TenantNotice, TenantNotice] | None:
        """The first-party tenant told first and the third-party tenant told last, if the
        first was told before the last; else None."""
        d = self.delivered
        fp = next((told for told in d if told[1].first_party), None)
        tp = next((told for told in reversed(d) if not told[1].first_party), None)
        if fp is not None and tp is not None and fp[0] < tp[0]:
            return fp[1], tp[1]
        return None

    @property
    def first_party_told_earlier(self) -> bool:
        """Was any first-party tenant told before any third-party tenant?"""
        return self.told_earlier is not None

    @property
    def undelivered_third_party(self) -> list[TenantNotice]:
        return [n for n in self.notices if n.at is None and not n.first_party]

    def as_dict(self, named: set[str] | None = None) -> dict:
        """The revision's report; ``named`` limits the tenants shown by name to these slugs
        (None: all). Aggregates always cover every tenant."""
        example = self.told_earlier
        d = self.delivered
        shown = [n for n in self.notices if named is None or n.slug in named]
        hidden = len(self.notices) - len(shown)

        def who(notice: TenantNotice) -> dict:
            if named is None or notice.slug in named:
                return notice.as_dict()
            return {
                "tenant": None,
                "name": "another tenant",
                "first_party": notice.first_party,
                "notice_given_at": iso(notice.at),
            }

        return {
            "revision": self.number,
            "kind": self.kind,
            "material": self.material,
            "announced_at": iso(self.announced_at),
            "first_notice_at": iso(d[0][0] if d else None),
            "last_notice_at": iso(d[-1][0] if d else None),
            "spread_seconds": self.spread_seconds,
            "first_party": _group([n for n in self.notices if n.first_party]),
            "third_party": _group([n for n in self.notices if not n.first_party]),
            "first_party_told_earlier": example is not None,
            "example": {"first_party": who(example[0]), "third_party": who(example[1])}
            if example is not None
            else None,
            "undelivered_third_party": [
                n.slug for n in self.undelivered_third_party if named is None or n.slug in named
            ],
            "undelivered_third_party_count": len(self.undelivered_third_party),
            "other_tenants": hidden,
            "tenants": [
                n.as_dict()
                for n in sorted(
                    shown,
                    key=lambda n: (
                        n.at is None,
                        n.at or dt.datetime.min.replace(tzinfo=dt.UTC),
                        n.slug,
                    ),
                )
            ],
        }


def report(change: Change) -> list[RevisionReport]:
    """One report per announced revision, oldest first (two statements)."""
    revisions = {
        r.number: RevisionReport(r.number, r.kind, r.material, r.created_at)
        for r in db.session.execute(
            select(Revision).where(Revision.change_id == change.id).order_by(Revision.number)
        ).scalars()
    }
    first_sent = func.min(
        case((OutboxMessage.status == SENT, OutboxMessage.sent_at)), type_=UTCDateTime
    )
    rows = db.session.execute(
        select(
            OutboxMessage.revision_number,
            Tenant.slug,
            Tenant.name,
            Tenant.first_party,
            first_sent.label("at"),
        )
        .join(Tenant, Tenant.id == OutboxMessage.tenant_id)
        .where(OutboxMessage.change_id == change.id, OutboxMessage.kind == NOTICE)
        .group_by(
            OutboxMessage.revision_number, Tenant.id, Tenant.slug, Tenant.name, Tenant.first_party
        )
    ).all()
    for r in rows:
        target = revisions.get(r.revision_number)
        if target is not None:
            target.notices.append(TenantNotice(r.slug, r.name, bool(r.first_party), r.at))
    return [r for r in revisions.values() if r.notices]


def named_tenants(change: Change, user) -> set[str] | None:
    """Slugs of the tenants ``user`` may see by name in the report; None means all (admins
    and the owning team); an account manager gets the tenants assigned to them."""
    if user.is_admin or can_manage(user, change):
        return None
    return set(
        db.session.execute(select(Tenant.slug).where(tenant_filter(Tenant.id, user))).scalars()
    )


def report_dict(
    change: Change,
    reports: list[RevisionReport],
    now: dt.datetime,
    named: set[str] | None = None,
) -> dict:
    """The report as JSON-ready data; ``named`` as in ``RevisionReport.as_dict``."""
    return {
        "change": {"id": change.id, "title": change.title, "status": change.status},
        "generated_at": iso(now),
        "first_party_told_earlier": any(r.first_party_told_earlier for r in reports),
        "revisions": [r.as_dict(named) for r in reports],
    }
