"""JSON API of the changes feature (token auth, under /api/v1).

Create/read/update, publish, start, complete, cancel, emergency request/approve/reject, the
per-tenant go-live gate and an earliest-start preview. Refusals by policy are 409 naming the
blocking tenants and the earliest allowed start; bad input is 400 naming the field. Each
operation declares its schemas (``portal.changes.api_schemas``; docs/api.md).
"""

from __future__ import annotations

import datetime as dt

from flask import abort, current_app
from flask_login import current_user
from sqlalchemy import select

from portal.access import tenant_ids_visible_to
from portal.api.base import api_blueprint
from portal.changes import api_schemas as s
from portal.changes import emergency, lifecycle, reach, services
from portal.changes.inputs import parse_change_input
from portal.changes.models import Change, Revision
from portal.changes.queries import (
    get_change_for_gate_or_404,
    get_change_or_404,
    get_managed_change_or_404,
    listed_changes,
)
from portal.changes.serialise import change_dict, revision_dict
from portal.clock import now
from portal.errors import Forbidden
from portal.extensions import db

bp = api_blueprint("changes_api", __name__)


def _engineer() -> None:
    if not (current_user.is_admin or current_user.is_engineer):
        raise Forbidden("only platform engineers manage changes")


E403 = "not a platform engineer (only they manage changes)"
E404 = "no such change, or not yours to see"
E409 = "refused by policy or state; names the blocking tenants and the earliest allowed start"


@bp.get("/changes")
@bp.arguments(s.ListQuerySchema, location="query")
@bp.response(200, s.ChangeListSchema)
@bp.refusals(e400="bad status or page; error.field names it")
def list_changes(query: dict):
    """Changes the caller may see, newest start first (what the rows show is loaded with
    them: a constant number of statements per page)."""
    q = listed_changes(current_user)
    if query.get("status"):
        q = q.where(Change.status == query["status"])
    page = db.paginate(
        q.order_by(Change.starts_at.desc(), Change.id.desc()),
        page=query["page"],
        per_page=current_app.config["PAGE_SIZE"],
        error_out=False,
    )
    return {
        "changes": [change_dict(c, current_user) for c in page.items],
        "page": page.page,
        "pages": page.pages,
        "total": page.total,
    }


@bp.post("/changes")
@bp.arguments(s.ChangeCreateSchema, example=s.CHANGE_EXAMPLE)
@bp.response(201, s.ChangeEnvelopeSchema)
@bp.refusals(e400="bad input; error.field names the field", e403=E403)
def create_change(body: dict):
    """Create a draft."""
    _engineer()
    inp = parse_change_input(body, user=current_user, now=now())
    change = services.create_change(inp, author=current_user, now=now())
    db.session.commit()
    return {"change": change_dict(change, current_user)}


@bp.get("/changes/<id:change_id>")
@bp.response(200, s.ChangeHistorySchema)
@bp.refusals(e404=E404)
def read_change(change_id: int):
    """One change with its revision history."""
    change = get_change_or_404(change_id, current_user)
    revisions = db.session.execute(
        select(Revision).where(Revision.change_id == change.id).order_by(Revision.number)
    ).scalars()
    return {
        "change": change_dict(change, current_user),
        "revisions": [revision_dict(r) for r in revisions],
    }


@bp.patch("/changes/<id:change_id>")
@bp.arguments(s.ChangeEditSchema, example=s.EDIT_EXAMPLE)
@bp.response(200, s.ChangeUpdateSchema)
@bp.refusals(
    e400="bad input; error.field names the field", e403=E403, e404=E404, e409="not editable now"
)
def update_change(body: dict, change_id: int):
    """Edit a draft, or revise a scheduled change (material or not, announced)."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    services.ensure_editable(change)
    inp = parse_change_input(body, user=current_user, now=now(), current=change)
    revision = services.update_change(change, inp, actor=current_user, now=now())
    db.session.commit()
    return {
        "change": change_dict(change, current_user),
        "revision": revision_dict(revision) if revision else None,
    }


@bp.post("/changes/preview")
@bp.arguments(s.ChangeCreateSchema, example=s.CHANGE_EXAMPLE)
@bp.response(200, s.PreviewSchema)
@bp.refusals(e400="bad input; error.field names the field", e403=E403)
def preview_new(body: dict):
    """Earliest allowed start, affected count, strictest requirement, blackout conflicts."""
    _engineer()
    inp = parse_change_input(body, user=current_user, now=now())
    return services.preview(inp, now()).as_dict()


@bp.post("/changes/<id:change_id>/preview")
@bp.arguments(s.ChangeEditSchema)
@bp.response(200, s.PreviewSchema)
@bp.refusals(e400="bad input; error.field names the field", e403=E403, e404=E404)
def preview_edit(body: dict, change_id: int):
    """The same for an edit of an existing change, plus whether it would be material."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    inp = parse_change_input(body, user=current_user, now=now(), current=change)
    return services.preview(inp, now(), change).as_dict()


@bp.post("/changes/<id:change_id>/publish")
@bp.response(200, s.ChangeEnvelopeSchema)
@bp.refusals(e403=E403, e404=E404, e409=E409)
def publish(change_id: int):
    """draft → scheduled, or 409 naming every blocking tenant."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    services.publish(change, actor=current_user, now=now())
    db.session.commit()
    return {"change": change_dict(change, current_user)}


@bp.post("/changes/<id:change_id>/start")
@bp.arguments(s.StartSchema, required=False)
@bp.response(200, s.StartResultSchema)
@bp.refusals(
    e400="bad input", e403=E403, e404=E404, e409="not startable, or a tenant's gate is shut"
)
def start(body: dict, change_id: int):
    """Go live; ``{"only_open": true}`` starts only tenants whose gate is open."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    result = lifecycle.start(change, actor=current_user, now=now(), only_open=body["only_open"])
    db.session.commit()
    return {
        "change": change_dict(change, current_user),
        "started": [g.slug for g in result.started],
        "waiting": [g.as_dict() for g in result.waiting],
    }


@bp.post("/changes/<id:change_id>/complete")
@bp.response(200, s.ChangeEnvelopeSchema)
@bp.refusals(e403=E403, e404=E404, e409="not in progress")
def complete(change_id: int):
    """in progress → completed."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    lifecycle.complete(change, actor=current_user, now=now())
    db.session.commit()
    return {"change": change_dict(change, current_user)}


@bp.post("/changes/<id:change_id>/cancel")
@bp.arguments(s.CancelSchema, required=False)
@bp.response(200, s.ChangeEnvelopeSchema)
@bp.refusals(e400="bad input", e403=E403, e404=E404, e409="not cancellable now")
def cancel(body: dict, change_id: int):
    """scheduled → cancelled (announced); drafts are withdrawn."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    lifecycle.cancel(change, actor=current_user, now=now(), reason=body["reason"].strip())
    db.session.commit()
    return {"change": change_dict(change, current_user)}


@bp.post("/changes/<id:change_id>/tenants/<tenant>/resend-notice")
@bp.response(202, s.ResendSchema)
@bp.refusals(
    e403="not the owning team, the tenant's account manager or an admin",
    e404="no such change, or no affected tenant of that slug",
    e409="nothing to resend: the tenant's notice of the current revision is not failed",
)
def resend_notice(change_id: int, tenant: str):
    """Queue the current revision's notice again for a tenant whose notice failed (DESIGN.md
    "A failed notice is recoverable"); its notice clock starts at that delivery."""
    change = get_change_or_404(change_id, current_user)
    tenant_id = reach.affected_tenant_id(change, tenant)
    queued = reach.resend_notice(change, tenant_id, actor=current_user, now=now())
    db.session.commit()
    return {"queued": queued, "tenant": tenant}


@bp.post("/changes/<id:change_id>/emergency")
@bp.arguments(s.EmergencySchema)
@bp.response(202, s.ChangeEnvelopeSchema)
@bp.refusals(e400="bad input", e403=E403, e404=E404, e409="no emergency needed, or not now")
def request_emergency(body: dict, change_id: int):
    """Ask a second engineer to approve publishing inside the notice window."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    emergency.request_emergency(change, body["justification"], actor=current_user, now=now())
    db.session.commit()
    return {"change": change_dict(change, current_user)}


@bp.post("/changes/<id:change_id>/emergency/approve")
@bp.arguments(s.ApproveSchema, required=False)
@bp.response(200, s.ChangeEnvelopeSchema)
@bp.refusals(
    e400="bad input",
    e403="not an engineer with the approver right, or the requester",
    e404=E404,
    e409="no pending emergency request",
)
def approve_emergency(body: dict, change_id: int):
    """Approve (a different engineer with the approver right): publishes as short notice."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    emergency.approve(change, approver=current_user, now=now(), note=body["note"])
    db.session.commit()
    return {"change": change_dict(change, current_user)}


@bp.post("/changes/<id:change_id>/emergency/reject")
@bp.arguments(s.RejectSchema)
@bp.response(200, s.ChangeEnvelopeSchema)
@bp.refusals(
    e400="bad input",
    e403="not an engineer with the approver right",
    e404=E404,
    e409="no pending emergency request",
)
def reject_emergency(body: dict, change_id: int):
    """Reject with a reason: back to draft."""
    _engineer()
    change = get_managed_change_or_404(change_id, current_user)
    emergency.reject(change, approver=current_user, now=now(), reason=body["reason"])
    db.session.commit()
    return {"change": change_dict(change, current_user)}


@bp.get("/changes/<id:change_id>/gate")
@bp.arguments(s.GateQuerySchema, location="query")
@bp.response(200, s.GateSchema)
@bp.refusals(e400="bad input", e404="no such change or affected tenant that you may see")
def gate(query: dict, change_id: int):
    """Open/shut per tenant, why, and when each gate opens (poll from pipelines; one query)."""
    change, manages = get_change_for_gate_or_404(change_id, current_user)
    at = now()
    slug = query.get("tenant")
    # Account managers and customers see only the gates of tenants they may see; a tenant
    # that is unknown, not theirs or not affected is the same 404 (one query either way).
    scope = None if manages else tenant_ids_visible_to(current_user)
    tenant_gates = lifecycle.gates(change, at, tenant_scope=scope, tenant_slug=slug)
    if slug is not None and not tenant_gates:
        abort(404, description=f"no affected tenant {slug!r} that you may see")
    return {
        "change": change.id,
        "status": change.status,
        "now": at.astimezone(dt.UTC).isoformat(),
        "starts_at": change.starts_at.astimezone(dt.UTC).isoformat(),
        **lifecycle.overall(change, tenant_gates, at),
        "tenants": [g.as_dict() for g in tenant_gates],
    }
