"""Web routes of the changes feature: the ``changes`` blueprint, the list and the change page.

Who sees what is decided by ``portal.changes.queries`` (another team's or tenant's change, and
any draft for customers, is a 404); what may be done by the services, asked through
``portal.changes.actions``. The editor (``routes_editor``) and the lifecycle actions (publish,
start, cancel, emergency …; ``routes_actions``) are views on the same blueprint, in modules of
their own; ``portal.blueprints`` imports them with this one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import exists, or_, select

from portal.access import tenant_filter, tenant_ids_visible_to
from portal.catalog.models import Service, Usage
from portal.changes import actions, approvals, lifecycle, reach, services
from portal.changes.asks import action_ask
from portal.changes.forms import ApproveForm, JustificationForm, ReasonForm, RejectForm, StartForm
from portal.changes.history import cancellation, history_for_viewer
from portal.changes.models import (
    CANCELLED,
    COMPLETED,
    DRAFT,
    IN_PROGRESS,
    PENDING_APPROVAL,
    SCHEDULED,
    STATUSES,
    Change,
    ChangeTarget,
    EmergencyRequest,
    ImpactLevel,
    Revision,
)
from portal.changes.queries import (
    can_manage,
    get_change_or_404,
    listed_changes,
)
from portal.clock import now
from portal.extensions import db
from portal.pagination import paginate_list
from portal.templating import viewer_zone

bp = Blueprint("changes", __name__, url_prefix="/changes")

GATE_ROWS_SHOWN = 100


def action_forms() -> dict:
    """The CSRF-carrying forms the change page renders its buttons with."""
    return {
        "start": StartForm(),
        "reason": ReasonForm(),
        "justify": JustificationForm(),
        "approve": ApproveForm(),
        "reject": RejectForm(),
    }


def like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@bp.get("")
@login_required
def index():
    """Engineers: their teams' changes, filtered. Customers and account managers: the
    published changes affecting their tenants, upcoming or past."""
    args = request.args
    status = args.get("status", "")
    # Compared whole: cut to the column's length, "<slug>junk" would filter as "<slug>".
    service = args.get("service", "").strip()
    impact = args.get("impact", "").strip()
    text = args.get("q", "").strip()[:100]
    when = args.get("when", "upcoming" if current_user.is_customer else "")
    query = listed_changes(current_user)
    if status in STATUSES:
        query = query.where(Change.status == status)
    if impact:
        query = query.where(Change.impact == impact)
    if service:
        query = query.where(
            exists().where(
                ChangeTarget.change_id == Change.id,
                ChangeTarget.service_id == Service.id,
                Service.slug == service,
            )
        )
    if text:
        query = query.where(
            or_(
                Change.title.ilike(like(text), escape="\\"),
                Change.body_md.ilike(like(text), escape="\\"),
            )
        )
    moment = now()
    if when == "upcoming":
        query = query.where(
            Change.ends_at >= moment,
            Change.status.in_((SCHEDULED, IN_PROGRESS, DRAFT, PENDING_APPROVAL)),
        )
        query = query.order_by(Change.starts_at, Change.id)
    elif when == "past":
        query = query.where(or_(Change.ends_at < moment, Change.status.in_((COMPLETED, CANCELLED))))
        query = query.order_by(Change.starts_at.desc(), Change.id.desc())
    else:
        query = query.order_by(Change.starts_at.desc(), Change.id.desc())
    page = db.paginate(query, per_page=current_app.config["PAGE_SIZE"], error_out=False)
    filters = {
        k: v
        for k, v in {
            "status": status if status in STATUSES else "",
            "service": service,
            "impact": impact,
            "q": text,
            "when": when,
        }.items()
        if v
    }
    return render_template(
        "changes/index.html",
        page=page,
        filters=filters,
        statuses=STATUSES,
        impacts=impact_levels(),
        services=_filter_services(),
        when=when,
        may_create=current_user.is_admin or current_user.is_engineer,
    )


def impact_levels() -> list[ImpactLevel]:
    """Every impact level, lowest rank first (the list filter and the editor's choices)."""
    return list(db.session.execute(select(ImpactLevel).order_by(ImpactLevel.rank)).scalars())


def _filter_services() -> list:
    """Services worth filtering on: those the user's teams own, and (customers, account
    managers) those their tenants use; admins see all. Rows of (slug, name) only: a catalog
    of a thousand services would otherwise build a thousand objects for a ``<select>``."""
    query = select(Service.slug, Service.name).order_by(Service.name)
    if current_user.is_admin:
        return list(db.session.execute(query))
    clauses = [Service.team_id.in_([m.team_id for m in current_user.memberships])]
    if current_user.is_customer or current_user.is_account_manager:
        clauses.append(
            Service.id.in_(
                select(Usage.service_id).where(tenant_filter(Usage.tenant_id, current_user))
            )
        )
    return list(db.session.execute(query.where(or_(*clauses))))


@bp.app_context_processor
def approvals_waiting():
    """``approvals_waiting()`` in any template: how many emergency requests wait for the
    signed-in user's decision (the menu's count; one statement, only when asked)."""
    return {"approvals_waiting": lambda: approvals.awaiting_count(current_user)}


@bp.get("/<int:change_id>")
@login_required
def show(change_id: int):
    """The change page, for staff and customers alike (each sees their own part)."""
    change = get_change_or_404(change_id, current_user)
    manages = can_manage(current_user, change)
    revisions = (
        db.session.execute(
            select(Revision).where(Revision.change_id == change.id).order_by(Revision.number.desc())
        )
        .scalars()
        .all()
    )
    tenant_gates, gate_summary = _gates_for_viewer(change)
    at = now()
    if manages:
        offered = actions.actions_for(change, tenant_gates, at)
    else:
        offered = actions.ChangeActions.none(change, at)
    gates_page = paginate_list(
        tenant_gates,
        page=max(1, request.args.get("gates_page", 1, type=int)),
        per_page=GATE_ROWS_SHOWN,
    )
    emergency_offer = actions.emergency_offer(current_user, change)
    approval = approval_plan = None
    if current_user.is_staff and emergency_offer.awaiting:
        approval, approval_plan = approvals.brief_and_plan(change, at)
    draft_preview = None
    if manages and change.status == DRAFT:
        draft_preview = services.preview(services.input_of(change), at)
    requests: Sequence[EmergencyRequest] = []
    if current_user.is_staff:
        requests = (
            db.session.execute(
                select(EmergencyRequest)
                .where(EmergencyRequest.change_id == change.id)
                .order_by(EmergencyRequest.requested_at.desc())
            )
            .scalars()
            .all()
        )
    return render_template(
        "changes/show.html",
        change=change,
        manages=manages,
        revisions=revisions,
        gates=gates_page.items,
        gates_total=len(tenant_gates),
        gates_page=gates_page.page,
        gates_pages=gates_page.pages,
        gate_groups=actions.group_gates(tenant_gates),
        actions=offered,
        draft_preview=draft_preview,
        publish_size=actions.announcement_size(draft_preview.plan.affected)
        if draft_preview
        else None,
        gate_summary=gate_summary,
        requests=requests,
        emergency=emergency_offer,
        resend_offered=reach.resend_offered(current_user, change),
        approval=approval,
        approval_size=actions.announcement_size(approval_plan.affected)
        if approval_plan is not None
        else None,
        forms=action_forms(),
        history=history_for_viewer(change, revisions, current_user, viewer_zone()),
        cancelled=cancellation(change, revisions),
        ask=action_ask(change, at),
        starts_ahead=change.status not in (CANCELLED, COMPLETED),
    )


def _gates_for_viewer(change: Change):
    """Per-tenant gates for staff: all for the owning team and admins, account managers'
    own tenants only; customers see none."""
    if current_user.is_customer or not change.is_published:
        return [], None
    all_gates = lifecycle.gates(change, now())
    if not (current_user.is_admin or can_manage(current_user, change)):
        visible = tenant_ids_visible_to(current_user)
        if visible is not None:  # None: all of them
            ids = set(db.session.execute(visible).scalars())
            all_gates = [g for g in all_gates if g.tenant_id in ids]
    summary = lifecycle.overall(change, all_gates, now())
    opens_at = summary.get("opens_at")
    opens_at = dt.datetime.fromisoformat(opens_at) if opens_at else None
    return all_gates, {
        "open": summary["open"],
        "opens_at": opens_at,
        "open_count": sum(1 for g in all_gates if g.state.open),
    }
