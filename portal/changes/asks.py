"""What a change asks of its customers, and which changes still need a customer's action.

A change *asks* something of an affected tenant when it requires an acknowledgement or says
what customers need to do (``customer_action``, with an optional ``act_by``) — issue 15
items 1 and 4. Acknowledging the current version answers it: the tenant has read what it
must do. The customer's home page opens with the changes still asking, soonest deadline
first (the act-by time, else the start).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, case, exists, func, not_, or_, select

from portal.acks.models import Acknowledgement
from portal.changes.models import IN_PROGRESS, SCHEDULED, Change, ChangeTenant
from portal.extensions import db
from portal.sqltypes import UTCDateTime

# Statuses in which a change can still ask anything of a customer (acks.services agrees).
ASKING_STATUSES = (SCHEDULED, IN_PROGRESS)


def asks_acknowledgement(change: Change) -> bool:
    """Does the change ask its customers to acknowledge it (required, or something to do)?"""
    return bool(change.ack_required or (change.customer_action or "").strip())


@dataclass(frozen=True)
class ActionAsk:
    """The "What you need to do" card: the Markdown (render it sanitised), the deadline
    (UTC or None), whether that deadline has passed at ``now``, and whether the change can
    still ask anything (scheduled or in progress)."""

    customer_action: str
    act_by: dt.datetime | None
    act_by_passed: bool
    open: bool


def action_ask(change: Change, now: dt.datetime) -> ActionAsk | None:
    """The change's ask for its page, or None when it asks nothing or was cancelled (the
    cancelled banner says nothing will happen)."""
    action = (change.customer_action or "").strip()
    if not action or change.status not in (*ASKING_STATUSES, "completed"):
        return None
    return ActionAsk(
        action,
        change.act_by,
        change.act_by is not None and change.act_by <= now,
        change.status in ASKING_STATUSES,
    )


@dataclass(frozen=True)
class NeedsAction:
    """One change on the customer's "Needs your action" list: ``deadline`` is the act-by
    time, else the start (UTC); ``act_by`` is set when the change names one."""

    change: Change
    deadline: dt.datetime
    act_by: dt.datetime | None
    ack_required: bool
    has_action: bool
    passed: bool  # the deadline is behind ``now`` (an acknowledgement is still owed)

    @property
    def asks(self) -> str:
        """What is asked, in a few words: "Acknowledge", "Act", "Act and acknowledge"."""
        if self.has_action:
            return "Act and acknowledge" if self.ack_required else "Act"
        return "Acknowledge"

    @property
    def deadline_label(self) -> str:
        """What the deadline is: "Act by" (the change names one) or "Starts"."""
        return "Act by" if self.act_by is not None else "Starts"


def _unacknowledged():
    """No counted acknowledgement of the tenant's current clock revision (``ChangeTenant``)."""
    return not_(
        exists().where(
            Acknowledgement.change_id == ChangeTenant.change_id,
            Acknowledgement.tenant_id == ChangeTenant.tenant_id,
            Acknowledgement.revision_number == ChangeTenant.clock_revision,
            Acknowledgement.counts.is_(True),
        )
    )


def _needs_action_query(tenant_id: int, now: dt.datetime):
    deadline = func.coalesce(Change.act_by, Change.starts_at, type_=UTCDateTime())
    has_action = Change.customer_action != ""
    return (
        select(Change, deadline.label("deadline"))
        .join(ChangeTenant, ChangeTenant.change_id == Change.id)
        .where(
            ChangeTenant.tenant_id == tenant_id,
            ChangeTenant.active.is_(True),
            Change.status.in_(ASKING_STATUSES),
            Change.ends_at >= now,
            _unacknowledged(),
            or_(
                Change.ack_required.is_(True),
                # Something to do whose deadline has not passed: once it has, the list
                # stops nagging (the change page still shows it, marked as passed).
                and_(has_action, deadline >= now),
            ),
        )
        .order_by(case((deadline < now, 1), else_=0), deadline, Change.id)
    )


def needs_action(user, now: dt.datetime, limit: int = 20) -> tuple[list[NeedsAction], int]:
    """For a customer: up to ``limit`` changes affecting their tenant that still ask it to
    acknowledge or act, soonest deadline first (passed deadlines last), and how many there
    are in all. Empty for staff. Two statements."""
    if not user.is_customer or user.tenant_id is None:
        return [], 0
    query = _needs_action_query(user.tenant_id, now)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.execute(query.limit(limit)).all()
    items = [
        NeedsAction(
            change,
            deadline,
            change.act_by,
            change.ack_required,
            bool((change.customer_action or "").strip()),
            deadline <= now,
        )
        for change, deadline in rows
    ]
    return items, total
