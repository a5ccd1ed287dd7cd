"""JSON API of the acks feature (token auth, under /api/v1).

- ``POST /changes/<id>/acknowledge`` — a customer user acknowledges for their tenant;
  idempotent: 201 when recorded (``counted`` or ``seen``), 200 when the caller had already
  acknowledged this version (nothing changes).
- ``POST /changes/<id>/objections`` — a customer asks for postponement, with a reason.
- ``POST /changes/<id>/waiver`` — a tenant admin waives the remaining notice, or an account
  manager records a waiver agreed offline (``tenant`` and ``agreed_by`` required).

Another tenant's change is 404; the wrong role is 403; bad input 400; refused by state 409.
"""

from __future__ import annotations

import datetime as dt

from flask import jsonify, request
from flask_login import current_user

from portal.access import get_tenant_or_404
from portal.acks.models import CHANNEL_API, Acknowledgement, Objection, Waiver
from portal.acks.panel import affects
from portal.acks.services import acknowledge, object_to, waive
from portal.api.base import api_blueprint, json_body
from portal.api.openapi import register_paths
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


def _optional_body() -> dict:
    """The JSON object sent, or {} when the request has no body at all."""
    if not request.get_data(cache=True):
        return {}
    return json_body()


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


@bp.post("/changes/<int:change_id>/acknowledge")
def acknowledge_change(change_id: int):
    """Acknowledge the change's current version for the caller's tenant."""
    change = _customer_change(change_id, "acknowledge changes")
    body = _optional_body()
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
    return jsonify(result=outcome.status, acknowledgement=ack_dict(outcome.ack)), (
        201 if outcome.changed_anything else 200
    )


def _text(body: dict, name: str, *, required: bool) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    if required and not value.strip():
        raise InvalidInput(f"{name} is required", field=name)
    return value


@bp.post("/changes/<int:change_id>/objections")
def object_to_change(change_id: int):
    """Ask for postponement, with a reason; the owning team and account managers are told."""
    change = _customer_change(change_id, "object to changes")
    reason = _text(json_body(), "reason", required=True)
    objection = object_to(
        change, current_user.tenant_id, user=current_user, reason=reason, now=now()
    )
    db.session.commit()
    return jsonify(objection=objection_dict(objection)), 201


@bp.post("/changes/<int:change_id>/waiver")
def waive_notice(change_id: int):
    """Waive the remaining notice for one tenant (opens its gate at the start)."""
    body = json_body()
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
    return jsonify(waiver=waiver_dict(waiver)), 201


def _err(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_ID = [{"name": "change_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
_ERRORS = {
    "400": _err("bad input; error.field names the field"),
    "401": _err("missing or bad token"),
    "403": _err("not allowed for your role"),
    "404": _err("no such change, or it does not affect your organisation"),
    "409": _err(
        "refused by state: cancelled or completed change, superseded "
        "revision, already waived or answered"
    ),
}


def _body(properties: dict, required: list[str], optional: bool = False) -> dict:
    return {
        "required": not optional,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": properties, "required": required}
            }
        },
    }


register_paths(
    {
        "/changes/{change_id}/acknowledge": {
            "post": {
                "summary": "Acknowledge the change for your organisation (customer users); "
                "idempotent",
                "parameters": _ID,
                "requestBody": _body(
                    {
                        "revision": {
                            "type": "integer",
                            "description": "the revision you read; 409 if a material "
                            "revision superseded it",
                        }
                    },
                    [],
                    optional=True,
                ),
                "responses": {
                    "201": {
                        "description": "recorded: result is 'counted' (first for your "
                        "organisation) or 'seen'"
                    },
                    "200": {"description": "you had already acknowledged this version"},
                    **_ERRORS,
                },
            }
        },
        "/changes/{change_id}/objections": {
            "post": {
                "summary": "Object to the change / ask for postponement (customer users)",
                "parameters": _ID,
                "requestBody": _body({"reason": {"type": "string", "maxLength": 4000}}, ["reason"]),
                "responses": {"201": {"description": "objection recorded"}, **_ERRORS},
            }
        },
        "/changes/{change_id}/waiver": {
            "post": {
                "summary": "Waive the remaining notice (tenant admin), or record a waiver agreed "
                "offline (account manager: tenant and agreed_by required)",
                "parameters": _ID,
                "requestBody": _body(
                    {
                        "note": {"type": "string", "maxLength": 4000},
                        "tenant": {
                            "type": "string",
                            "description": "tenant slug (account managers only)",
                        },
                        "agreed_by": {"type": "string", "maxLength": 300},
                    },
                    [],
                ),
                "responses": {
                    "201": {"description": "waiver recorded; the tenant's gate opens at the start"},
                    **_ERRORS,
                },
            }
        },
    }
)
