"""JSON API of the acks feature (token auth, under /api/v1).

- ``POST /changes/<id>/acknowledge`` — a customer user acknowledges for their tenant;
  idempotent: 201 when recorded (``counted`` or ``seen``), 200 when the caller had already
  acknowledged this version (nothing changes).
- ``POST /changes/<id>/objections`` — a customer asks for postponement, with a reason.
- ``POST /changes/<id>/waiver`` — a tenant admin waives the remaining notice, or an account
  manager records a waiver agreed offline (``tenant`` and ``agreed_by`` required).

Another tenant's change is 404; the wrong role is 403; bad input 400; refused by state 409.
Each operation declares its schemas (``portal.acks.api_schemas``; docs/api.md).
"""

from __future__ import annotations

import datetime as dt

from flask_login import current_user

from portal.access import get_tenant_or_404
from portal.acks import api_schemas as s
from portal.acks.models import CHANNEL_API, Acknowledgement, Objection, Waiver
from portal.acks.panel import affects
from portal.acks.services import acknowledge, object_to, waive
from portal.api.base import api_blueprint
from portal.changes.models import Change
from portal.changes.queries import visible_changes
from portal.clock import now
from portal.errors import Forbidden, InvalidInput, NotFound
from portal.extensions import db

bp = api_blueprint("acks_api", __name__)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def ack_dict(ack: Acknowledgement) -> dict:
    return {
        "id": ack.id,
        "change_id": ack.change_id,
        "tenant": ack.tenant.slug,
        "revision": ack.revision_number,
        "counts": ack.counts,
        "channel": ack.channel,
        "by": ack.actor_label,
        "at": _iso(ack.at),
        "ledger_seq": ack.ledger_seq,
    }


def objection_dict(o: Objection) -> dict:
    return {
        "id": o.id,
        "change_id": o.change_id,
        "tenant": o.tenant.slug,
        "revision": o.revision_number,
        "by": o.actor_label,
        "reason": o.reason,
        "at": _iso(o.at),
        "answer": o.answer,
        "answered_by": o.answered_by_label,
        "answered_at": _iso(o.answered_at),
        "ledger_seq": o.ledger_seq,
    }


def waiver_dict(w: Waiver) -> dict:
    return {
        "id": w.id,
        "change_id": w.change_id,
        "tenant": w.tenant.slug,
        "revision": w.revision_number,
        "channel": w.channel,
        "agreed_by": w.agreed_by,
        "recorded_by": w.recorded_by_label,
        "note": w.note,
        "at": _iso(w.at),
        "ledger_seq": w.ledger_seq,
    }


def _customer_change(change_id: int, what: str) -> Change:
    """A change affecting the calling customer's tenant; staff are 403, others' changes 404."""
    if not current_user.is_customer:
        raise Forbidden(f"only customer users {what}; staff see the desk instead")
    change = _visible_change(change_id)
    if not affects(change.id, current_user.tenant_id):
        raise NotFound(NO_SUCH_CHANGE)
    return change


NO_SUCH_CHANGE = "no such change (or it does not affect your organisation)"


def _visible_change(change_id: int) -> Change:
    """The change if the caller may see it, else a JSON 404 that leaks nothing."""
    change = db.session.execute(
        visible_changes(current_user).where(Change.id == change_id)
    ).scalar_one_or_none()
    if change is None:
        raise NotFound(NO_SUCH_CHANGE)
    return change


E403 = "not allowed for your role"
E404 = "no such change, or it does not affect your organisation"
E409 = (
    "refused by state: cancelled or completed change, superseded revision, "
    "already waived or answered"
)


@bp.post("/changes/<id:change_id>/acknowledge")
@bp.arguments(s.AcknowledgeSchema, required=False)
@bp.response(
    201,
    s.AcknowledgeResultSchema,
    description="recorded: result is 'counted' (first for your organisation) or 'seen'",
)
@bp.alt_response(
    200,
    schema=s.AcknowledgeResultSchema,
    description="you had already acknowledged this version (result 'replay'; nothing changes)",
    success=True,
)
@bp.refusals(e400="bad input; error.field names the field", e403=E403, e404=E404, e409=E409)
def acknowledge_change(body: dict, change_id: int):
    """Acknowledge the change for your organisation (customer users); idempotent."""
    change = _customer_change(change_id, "acknowledge changes")
    revision = body.get("revision")
    outcome = acknowledge(
        change,
        current_user.tenant_id,
        user=current_user,
        now=now(),
        channel=CHANNEL_API,
        revision=revision,
    )
    db.session.commit()
    result = {"result": outcome.status, "acknowledgement": ack_dict(outcome.ack)}
    return result, (201 if outcome.changed_anything else 200)


def _text(body: dict, name: str, *, required: bool) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    if required and not value.strip():
        raise InvalidInput(f"{name} is required", field=name)
    return value


@bp.post("/changes/<id:change_id>/objections")
@bp.arguments(s.ObjectionInputSchema)
@bp.response(201, s.ObjectionResultSchema, description="objection recorded")
@bp.refusals(e400="bad input; error.field names the field", e403=E403, e404=E404, e409=E409)
def object_to_change(body: dict, change_id: int):
    """Object to the change / ask for postponement, with a reason (customer users); the owning
    team and account managers are told."""
    change = _customer_change(change_id, "object to changes")
    reason = _text(body, "reason", required=True)
    objection = object_to(
        change, current_user.tenant_id, user=current_user, reason=reason, now=now()
    )
    db.session.commit()
    return {"objection": objection_dict(objection)}


@bp.post("/changes/<id:change_id>/waiver")
@bp.arguments(s.WaiverInputSchema)
@bp.response(201, s.WaiverResultSchema, description="recorded; the tenant's gate opens at start")
@bp.refusals(e400="bad input; error.field names the field", e403=E403, e404=E404, e409=E409)
def waive_notice(body: dict, change_id: int):
    """Waive the remaining notice (tenant admin), or record a waiver agreed offline (account
    manager: ``tenant`` and ``agreed_by`` required); opens the tenant's gate at the start."""
    note = _text(body, "note", required=False)
    if current_user.is_customer:
        change = _customer_change(change_id, "waive notice")
        tenant_id, agreed_by = current_user.tenant_id, None
    else:
        if not (current_user.is_admin or current_user.is_account_manager):
            raise Forbidden(
                "only a tenant admin, or the tenant's account manager recording "
                "a waiver agreed offline, can waive notice"
            )
        change = _visible_change(change_id)
        slug = _text(body, "tenant", required=True)
        tenant_id = get_tenant_or_404(slug, current_user).id
        agreed_by = _text(body, "agreed_by", required=True)
    waiver = waive(
        change,
        tenant_id,
        user=current_user,
        now=now(),
        channel=CHANNEL_API,
        agreed_by=agreed_by,
        note=note,
    )
    db.session.commit()
    return {"waiver": waiver_dict(waiver)}
