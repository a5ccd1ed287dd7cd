"""The home page's "needs your attention" per role (issue #16 item 4): what someone must act
on next, each a count with a link to where they act.

- Engineers (their teams' changes): own drafts not yet published, emergency requests waiting
  for their decision, open objections to answer, scheduled changes overdue (start passed,
  not started), changes starting within 24 h.
- Account managers and admins (their tenants): tenants whose notice finally failed for a
  scheduled change, open objections, told-but-silent tenants of changes that ask for an
  acknowledgement and start within 72 h.
- Customers: none here; their home page opens with "Needs your action" instead, the changes
  to acknowledge or act on, soonest deadline first (``portal.changes.asks.needs_action``).

Every item is one counting statement over indexed columns; none loads rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import url_for
from sqlalchemy import and_, func, not_, select

from portal.access import tenant_filter
from portal.acks.models import Objection
from portal.catalog.models import TeamMembership
from portal.changes.approvals import awaiting_count
from portal.changes.models import DRAFT, IN_PROGRESS, SCHEDULED, Change, ChangeTenant
from portal.changes.upcoming import Upcoming
from portal.desk.matrix import acknowledged
from portal.extensions import db
from portal.notify.models import FAILED, NOTICE, OutboxMessage

DAY = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Attention:
    """One thing to act on: ``count`` of them, a sentence, where to act, and how urgent
    (``"bad"`` or ``"warn"``, for the badge)."""

    count: int
    text: str
    url: str
    level: str = "warn"


def _count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _team_changes(user):
    teams = select(TeamMembership.team_id).where(TeamMembership.user_id == user.id)
    return Change.team_id.in_(teams)


def _engineer(user, now: dt.datetime) -> list[Attention]:
    mine = _team_changes(user)
    items = [
        Attention(
            awaiting_count(user),
            "emergency requests wait for your approval",
            url_for("web.home") + "#approvals",
            "bad",
        ),
        Attention(
            _count(select(Change.id).where(Change.author_id == user.id, Change.status == DRAFT)),
            "of your drafts are not published yet",
            url_for("changes.index", status=DRAFT),
        ),
        Attention(
            _count(
                select(Objection.change_id)
                .join(Change, Change.id == Objection.change_id)
                .where(mine, Objection.answered_at.is_(None))
                .distinct()
            ),
            "changes have objections to answer",
            url_for("changes.index", when="upcoming"),
            "bad",
        ),
        Attention(
            _count(
                select(Change.id).where(mine, Change.status == SCHEDULED, Change.starts_at <= now)
            ),
            "scheduled changes are overdue: the start passed and they were not started",
            url_for("changes.index", status=SCHEDULED),
            "bad",
        ),
        Attention(
            _count(
                select(Change.id).where(
                    mine,
                    Change.status.in_((SCHEDULED, IN_PROGRESS)),
                    Change.starts_at > now,
                    Change.starts_at <= now + DAY,
                )
            ),
            "changes start within 24 hours: check their gates",
            url_for("changes.index", when="upcoming"),
        ),
    ]
    return items


def _staff_of_tenants(user, now: dt.datetime) -> list[Attention]:
    ct = ChangeTenant
    scheduled = and_(Change.id == ct.change_id, Change.status == SCHEDULED)
    failed = (
        select(OutboxMessage.tenant_id, OutboxMessage.change_id)
        .join(Change, Change.id == OutboxMessage.change_id)
        .where(
            Change.status == SCHEDULED,
            OutboxMessage.kind == NOTICE,
            OutboxMessage.status == FAILED,
            OutboxMessage.revision_number == Change.revision_number,
            tenant_filter(OutboxMessage.tenant_id, user),
        )
        .distinct()
    )
    silent_soon = (
        select(ct.id)
        .join(Change, scheduled)
        .where(
            ct.active.is_(True),
            Change.ack_required.is_(True),
            Change.starts_at > now,
            Change.starts_at <= now + 3 * DAY,
            ct.notice_given_at.is_not(None),
            not_(acknowledged()),
            tenant_filter(ct.tenant_id, user),
        )
    )
    objections = select(Objection.id).where(
        Objection.answered_at.is_(None), tenant_filter(Objection.tenant_id, user)
    )
    return [
        Attention(
            _count(failed),
            "tenants have a failed notice for a scheduled change",
            url_for("notify.failed"),
            "bad",
        ),
        Attention(
            _count(silent_soon),
            "told tenants have not acknowledged a change starting within 72 hours",
            url_for("desk.index"),
        ),
        Attention(
            _count(objections),
            "objections from your tenants are open",
            url_for("desk.index"),
        ),
    ]


def attention_for(user, now: dt.datetime, upcoming: list[Upcoming]) -> list[Attention]:
    """The non-zero items for ``user`` at ``now`` (UTC), most urgent first."""
    items: list[Attention] = []
    if user.is_customer:
        return []  # customers' home opens with "Needs your action" (``changes.asks``)
    if user.is_engineer:
        items += _engineer(user, now)
    if user.is_admin or user.is_account_manager:
        items += _staff_of_tenants(user, now)
    found = [i for i in items if i.count]
    return sorted(found, key=lambda i: i.level != "bad")
