"""What the acks panel on the change page shows to the current viewer.

Customers see their own tenant's acknowledgement state and buttons; staff see objections (all
of them for admins and the owning team, their tenants' for account managers) with the answer
form for the owning team, and the acknowledgement count.
"""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, select, true
from werkzeug.routing import BuildError

from portal.access import tenant_filter
from portal.acks.forms import AnswerForm, ConfirmAckForm
from portal.acks.models import Acknowledgement, Objection, Waiver
from portal.acks.services import (
    accepts_acknowledgements,
    can_answer,
    change_tenant,
    may_object,
    may_waive,
)
from portal.changes.asks import asks_acknowledgement
from portal.changes.models import Change, ChangeTenant
from portal.extensions import db


def affects(change_id: int, tenant_id: int | None) -> bool:
    """Is ``tenant_id`` an affected tenant of the change (row kept even if narrowed out)?"""
    return tenant_id is not None and change_tenant(change_id, tenant_id) is not None


def may_see_objection(user, objection: Objection) -> bool:
    """The objecting tenant's users, its account managers, the owning team and admins."""
    if not user.is_authenticated:
        return False
    if user.is_customer:
        return user.tenant_id == objection.tenant_id
    change = db.session.get_one(Change, objection.change_id)
    if can_answer(user, change):
        return True
    return (
        db.session.execute(
            select(func.count()).where(
                tenant_filter(Objection.tenant_id, user), Objection.id == objection.id
            )
        ).scalar_one()
        > 0
    )


def for_viewer(change: Change, user) -> dict:
    """A plain dict for the template; empty when the viewer has nothing to see here."""
    if not user.is_authenticated or not change.is_published:
        return {}
    if user.is_customer:
        return _customer_view(change, user)
    return _staff_view(change, user)


def _customer_view(change: Change, user) -> dict:
    ct = change_tenant(change.id, user.tenant_id)
    if ct is None:
        return {}
    acks = (
        db.session.execute(
            select(Acknowledgement).where(
                Acknowledgement.change_id == change.id,
                Acknowledgement.tenant_id == user.tenant_id,
                Acknowledgement.revision_number == ct.clock_revision,
            )
        )
        .scalars()
        .all()
    )
    objections = (
        db.session.execute(
            select(Objection)
            .where(Objection.change_id == change.id, Objection.tenant_id == user.tenant_id)
            .order_by(Objection.at)
        )
        .scalars()
        .all()
    )
    waiver = db.session.execute(
        select(Waiver).where(
            Waiver.change_id == change.id,
            Waiver.tenant_id == user.tenant_id,
            Waiver.revision_number == ct.clock_revision,
        )
    ).scalar_one_or_none()
    open_for_answers = ct.active and accepts_acknowledgements(change)
    counted = next((a for a in acks if a.counts), None)
    # Asked only where the change asks (issue 15 item 4): no "not acknowledged" badge or
    # Acknowledge button on a change that needs none, once the tenant has acknowledged (by
    # email, API or portal), or after the change ended.
    asked = asks_acknowledgement(change) and ct.active
    can_ack = asked and open_for_answers and counted is None
    can_object = ct.active and may_object(change)
    can_waive = user.is_tenant_admin and ct.active and may_waive(change) and ct.waived_at is None
    shown = bool(counted or can_ack or waiver or objections or can_object or can_waive)
    return {
        "role": "customer",
        "ct": ct,
        "tenant": ct.tenant,
        "counted": counted,
        "mine": next((a for a in acks if a.user_id == user.id), None),
        "objections": objections,
        "waiver": waiver,
        "asked": asked,
        "can_ack": can_ack,
        "can_object": can_object,
        "can_waive": can_waive,
        "shown": shown or not ct.active,
        "ack_form": ConfirmAckForm(),
    }


def ack_requested_badge(change: Change, user, panel: dict) -> bool:
    """Whether the change page's status line says "acknowledgement requested": to a
    customer, while their organisation still has to acknowledge (``panel``'s ``can_ack``);
    to staff, while the change asks for it and can still be acknowledged."""
    if panel.get("role") == "customer":
        return bool(panel.get("can_ack"))
    if user.is_authenticated and user.is_customer:
        return False
    return bool(asks_acknowledgement(change) and accepts_acknowledgements(change))


def _staff_view(change: Change, user) -> dict:
    answerer = can_answer(user, change)
    if not (answerer or user.is_account_manager):
        return {}
    scope = tenant_filter(Objection.tenant_id, user) if not answerer else true()
    objections = (
        db.session.execute(
            select(Objection).where(Objection.change_id == change.id, scope).order_by(Objection.at)
        )
        .scalars()
        .all()
    )
    waivers = (
        db.session.execute(
            select(Waiver)
            .where(
                Waiver.change_id == change.id,
                tenant_filter(Waiver.tenant_id, user) if not answerer else true(),
            )
            .order_by(Waiver.at)
        )
        .scalars()
        .all()
    )
    ct_scope = tenant_filter(ChangeTenant.tenant_id, user) if not answerer else true()
    total, acked = db.session.execute(
        select(func.count(ChangeTenant.id), func.count(Acknowledgement.id))
        .select_from(ChangeTenant)
        .outerjoin(
            Acknowledgement,
            (Acknowledgement.change_id == ChangeTenant.change_id)
            & (Acknowledgement.tenant_id == ChangeTenant.tenant_id)
            & (Acknowledgement.revision_number == ChangeTenant.clock_revision)
            & Acknowledgement.counts.is_(True),
        )
        .where(ChangeTenant.change_id == change.id, ChangeTenant.active.is_(True), ct_scope)
    ).one()
    return {
        "role": "staff",
        "objections": objections,
        "waivers": waivers,
        "can_answer": answerer,
        "answer_form": AnswerForm(),
        "total": total,
        "acknowledged": acked,
        "can_record_waiver": (user.is_account_manager or user.is_admin) and may_waive(change),
        "desk_url": _url_or_none("desk.change", change_id=change.id)
        if user.is_account_manager or user.is_admin
        else None,
    }


def _url_or_none(endpoint: str, **values) -> str | None:
    """A link into another feature's page, left out when that feature is not installed."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None
