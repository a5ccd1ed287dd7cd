"""JSON API of the changes feature (token auth, under /api/v1).

Create/read/update, publish, start, complete, cancel, emergency request/approve/reject, the
per-tenant go-live gate and an earliest-start preview. Refusals by policy are 409 naming the
blocking tenants and the earliest allowed start; bad input is 400 naming the field.
"""

from __future__ import annotations

import datetime as dt

from flask import abort, current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from portal.access import tenant_ids_visible_to
from portal.api.base import api_blueprint, json_body
from portal.changes import emergency, lifecycle, reach, services
from portal.changes.api_spec import register
from portal.changes.inputs import parse_change_input
from portal.changes.models import STATUSES, Change, Revision
from portal.changes.queries import (
    get_change_for_gate_or_404,
    get_change_or_404,
    get_managed_change_or_404,
    visible_changes,
)
from portal.changes.serialise import change_dict, revision_dict
from portal.clock import now
from portal.errors import Forbidden, InvalidInput
from portal.extensions import db

bp = api_blueprint("changes_api", __name__)
register()


def _engineer() -> None:
    if not (current_user.is_admin or current_user.is_engineer):
        raise Forbidden("only platform engineers manage changes")


@bp.get("/changes")
def list_changes():
    """Changes the caller may see, newest start first; ?status=&page=."""
    q = visible_changes(current_user)
    status = request.args.get("status")
    if status:
        if status not in STATUSES:
            raise InvalidInput(f"unknown status {status!r}", field="status")
        q = q.where(Change.status == status)
    page = db.paginate(
        q.order_by(Change.starts_at.desc(), Change.id.desc()),
        per_page=current_app.config["PAGE_SIZE"],
        error_out=False,
    )
    return jsonify(
        changes=[change_dict(c, current_user) for c in page.items],
        page=page.page,
        pages=page.pages,
        total=page.total,
    )


@bp.post("/changes")
def create_change():
    """Create a draft."""
    _engineer()
    inp = parse_change_input(json_body(), user=current_user, now=now())
    change = services.create_change(inp, author=current_user, now=now())
    db.session.commit()
    return jsonify(change=change_dict(change, current_user)), 201


@bp.get("/changes/<int:change_id>")
def read_change(change_id: int):
    """One change with its revision history."""
    change = get_change_or_404(change_id, current_user)
    revisions = db.session.execute(
        select(Revision).where(Revision.change_id == change.id).order_by(Revision.number)
    ).scalars()
    return jsonify(
        change=change_dict(change, current_user), revisions=[revision_dict(r) for r in revisions]
    )


@bp.patch("/changes/<int:change_id>")
def update_change(change_id: int):
    """Edit a draft, or revise a scheduled change (material or not, announced)."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    body = json_body()
    services.ensure_editable(change)
    inp = parse_change_input(body, user=current_user, now=now(), current=change)
    revision = services.update_change(change, inp, actor=current_user, now=now())
    db.session.commit()
    return jsonify(
        change=change_dict(change, current_user),
        revision=revision_dict(revision) if revision else None,
    )


@bp.post("/changes/preview")
def preview_new():
    """Earliest allowed start, affected count, strictest requirement, blackout conflicts."""
    _engineer()
    inp = parse_change_input(json_body(), user=current_user, now=now())
    return jsonify(services.preview(inp, now()).as_dict())


@bp.post("/changes/<int:change_id>/preview")
def preview_edit(change_id: int):
    """The same for an edit of an existing change, plus whether it would be material."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    inp = parse_change_input(json_body(), user=current_user, now=now(), current=change)
    return jsonify(services.preview(inp, now(), change).as_dict())


@bp.post("/changes/<int:change_id>/publish")
def publish(change_id: int):
    """draft → scheduled, or 409 naming every blocking tenant."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    services.publish(change, actor=current_user, now=now())
    db.session.commit()
    return jsonify(change=change_dict(change, current_user))


@bp.post("/changes/<int:change_id>/start")
def start(change_id: int):
    """Go live; ``{"only_open": true}`` starts only tenants whose gate is open."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    body = json_body() if request.content_length else {}
    only_open = body.get("only_open", False)
    if not isinstance(only_open, bool):
        raise InvalidInput("only_open must be true or false", field="only_open")
    result = lifecycle.start(change, actor=current_user, now=now(), only_open=only_open)
    db.session.commit()
    return jsonify(
        change=change_dict(change, current_user),
        started=[g.slug for g in result.started],
        waiting=[g.as_dict() for g in result.waiting],
    )


@bp.post("/changes/<int:change_id>/complete")
def complete(change_id: int):
    """in progress → completed."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    lifecycle.complete(change, actor=current_user, now=now())
    db.session.commit()
    return jsonify(change=change_dict(change, current_user))


@bp.post("/changes/<int:change_id>/cancel")
def cancel(change_id: int):
    """scheduled → cancelled (announced); drafts are withdrawn."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    body = json_body() if request.content_length else {}
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 2000:
        raise InvalidInput("reason must be text under 2,000 characters", field="reason")
    lifecycle.cancel(change, actor=current_user, now=now(), reason=reason.strip())
    db.session.commit()
    return jsonify(change=change_dict(change, current_user))


@bp.post("/changes/<int:change_id>/tenants/<tenant>/resend-notice")
def resend_notice(change_id: int, tenant: str):
    """Queue the current revision's notice for a tenant whose notice failed (DESIGN.md)."""
    change = get_change_or_404(change_id, current_user)
    tenant_id = reach.affected_tenant_id(change, tenant)
    queued = reach.resend_notice(change, tenant_id, actor=current_user, now=now())
    db.session.commit()
    return jsonify(queued=queued, tenant=tenant), 202


@bp.post("/changes/<int:change_id>/emergency")
def request_emergency(change_id: int):
    """Ask a second engineer to approve publishing inside the notice window."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    text = json_body().get("justification")
    if not isinstance(text, str):
        raise InvalidInput("a justification is required", field="justification")
    emergency.request_emergency(change, text, actor=current_user, now=now())
    db.session.commit()
    return jsonify(change=change_dict(change, current_user)), 202


@bp.post("/changes/<int:change_id>/emergency/approve")
def approve_emergency(change_id: int):
    """Approve (a different engineer with the approver right): publishes as short notice."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    body = json_body() if request.content_length else {}
    note = body.get("note", "")
    if not isinstance(note, str):
        raise InvalidInput("note must be text", field="note")
    emergency.approve(change, approver=current_user, now=now(), note=note)
    db.session.commit()
    return jsonify(change=change_dict(change, current_user))


@bp.post("/changes/<int:change_id>/emergency/reject")
def reject_emergency(change_id: int):
    """Reject with a reason: back to draft."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    reason = json_body().get("reason")
    if not isinstance(reason, str):
        raise InvalidInput("a reason is required", field="reason")
    emergency.reject(change, approver=current_user, now=now(), reason=reason)
    db.session.commit()
    return jsonify(change=change_dict(change, current_user))


@bp.get("/changes/<int:change_id>/gate")
def gate(change_id: int):
    """Open/shut per tenant, why, and when each gate opens (one query)."""
    change, manages = get_change_for_gate_or_404(change_id, current_user)
    at = now()
    slug = request.args.get("tenant")
    # Account managers and customers see only the gates of tenants they may see; a tenant
    # that is unknown, not theirs or not affected is the same 404 (one query either way).
    scope = None if manages else tenant_ids_visible_to(current_user)
    tenant_gates = lifecycle.gates(change, at, tenant_scope=scope, tenant_slug=slug)
    if slug is not None and not tenant_gates:
        abort(404, description=f"no affected tenant {slug!r} that you may see")
    return jsonify(
        change=change.id,
        status=change.status,
        now=at.astimezone(dt.UTC).isoformat(),
        starts_at=change.starts_at.astimezone(dt.UTC).isoformat(),
        **lifecycle.overall(change, tenant_gates, at),
        tenants=[g.as_dict() for g in tenant_gates],
    )
