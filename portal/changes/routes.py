"""Web routes of the changes feature: the list, the change page, and the editor.

Who sees what is decided by ``portal.changes.queries`` (another team's or tenant's change, and
any draft for customers, is a 404); what may be done by the services. Lifecycle actions
(publish, start, cancel, emergency …) live in ``views_actions`` on the same blueprint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import exists, or_, select

from portal.access import tenant_filter, tenant_ids_visible_to
from portal.catalog.models import Service, Usage
from portal.changes import actions, approvals, emergency, lifecycle, services, views_actions
from portal.changes.asks import action_ask
from portal.changes.forms import ChangeForm, zone_choices
from portal.changes.history import cancellation, history_for_viewer
from portal.changes.inputs import parse_change_input
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
    get_managed_change_or_404,
    listed_changes,
)
from portal.clock import now
from portal.errors import DomainError
from portal.extensions import db
from portal.pagination import paginate_list
from portal.templating import viewer_zone
from portal.tenants.forms import show_error

bp = Blueprint("changes", __name__, url_prefix="/changes")
views_actions.register(bp)

GATE_ROWS_SHOWN = 100


def like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _require_engineer() -> None:
    if not (current_user.is_admin or current_user.is_engineer):
        abort(403)


@bp.get("")
@login_required
def index():
    """Engineers: their teams' changes, filtered. Customers and account managers: the
    published changes affecting their tenants, upcoming or past."""
    args = request.args
    status = args.get("status", "")
    service = args.get("service", "").strip()[:64]
    impact = args.get("impact", "").strip()[:32]
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
        impacts=_impacts(),
        services=_filter_services(),
        when=when,
        may_create=current_user.is_admin or current_user.is_engineer,
    )


def _impacts() -> list[ImpactLevel]:
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


def _service_choices() -> list[tuple[str, str]]:
    """``slug`` and ``slug/component`` of the services the user's teams own."""
    query = select(Service).order_by(Service.name)
    if not current_user.is_admin:
        query = query.where(Service.team_id.in_([m.team_id for m in current_user.memberships]))
    choices = []
    for s in db.session.execute(query).scalars():
        choices.append((s.slug, f"{s.name} (whole service)"))
        choices += [(f"{s.slug}/{c.slug}", f"{s.name} / {c.name}") for c in s.components]
    return choices


def _prepare(form: ChangeForm) -> ChangeForm:
    form.services.choices = _service_choices()
    form.impact.choices = [
        (i.code, f"{i.name} ({i.notice_seconds // 3600} h notice)") for i in _impacts()
    ]
    form.time_zone.choices = zone_choices()
    if not form.time_zone.data:
        form.time_zone.data = viewer_zone()
    return form


def _wall(when, zone: str) -> str:
    """The wall-clock text the editor shows for ``when`` in ``zone`` (seconds only when the
    stored time has them, so nothing is silently truncated)."""
    from portal.timezones import get_zone

    local = when.astimezone(get_zone(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")


def _untouched(raw: dict, change: Change | None) -> dict:
    """Drop the times the user did not edit, so they keep their stored value exactly: the
    pre-filled text of a stored time may not round-trip on its own (seconds, or a wall time a
    daylight-saving change doubles, e.g. the first 01:30 of 2027-11-07 in New York)."""
    if change is None or not raw.get("time_zone"):
        return raw
    kept = dict(raw)
    for key in ("starts_at", "ends_at", "act_by"):
        if getattr(change, key) is None:
            continue
        try:
            shown = _wall(getattr(change, key), raw["time_zone"])
        except DomainError:
            continue
        if (raw.get(key) or "").replace("T", " ") == shown:
            kept[key] = None  # parse_change_input keeps the stored value
    return kept


def _fill_from(form: ChangeForm, change: Change) -> None:
    zone = viewer_zone()
    form.title.data, form.body.data = change.title, change.body_md
    form.services.data = [
        t.service.slug + (f"/{t.component.slug}" if t.component else "") for t in change.targets
    ]
    form.impact.data, form.time_zone.data = change.impact, zone
    form.starts_at.data = _wall(change.starts_at, zone)
    form.ends_at.data = _wall(change.ends_at, zone)
    form.ack_required.data, form.visibility.data = change.ack_required, change.visibility
    form.customer_action.data = change.customer_action
    form.act_by.data = _wall(change.act_by, zone) if change.act_by else ""


def _editor(form: ChangeForm, change: Change | None):
    """Handle the editor's POST: preview (no save) or save. Returns a response or None."""
    wants_preview = request.form.get("action") == "preview"
    preview = None
    if form.validate_on_submit():
        inp = None
        try:
            inp = parse_change_input(
                _untouched(form.raw(), change), user=current_user, now=now(), current=change
            )
            if wants_preview:
                preview = services.preview(inp, now(), change)
            elif change is None:
                change = services.create_change(inp, author=current_user, now=now())
                db.session.commit()
                flash("Draft saved. Publish it when the preview says it can go.", "success")
                return redirect(url_for("changes.show", change_id=change.id)), None
            else:
                revision = services.update_change(change, inp, actor=current_user, now=now())
                db.session.commit()
                if revision is None:
                    flash("Draft saved.", "success")
                else:
                    flash(
                        f"Revision {revision.number} published: "
                        + (
                            "material — the notice clock restarts for the affected tenants."
                            if revision.material
                            else "non-material update; customers are "
                            "told, their notice clock is unchanged."
                        ),
                        "success",
                    )
                return redirect(url_for("changes.show", change_id=change.id)), None
        except services.NoticeWindowViolation as err:
            # A material revision inside the window: show why, with the full preview.
            db.session.rollback()
            form.form_errors.append(err.message)
            preview = services.preview(inp, now(), change) if inp is not None else None
        except DomainError as err:
            db.session.rollback()
            show_error(form, err, "title")
    return None, preview


def _render_editor(form: ChangeForm, change: Change | None, preview=None):
    status = 400 if (form.errors or form.form_errors) else 200
    understood = form.understood()
    if request.headers.get("X-Forewarn-Fragment") == "preview":
        return render_template(
            "changes/_preview.html",
            form=form,
            preview=preview,
            change=change,
            understood=understood,
        ), status
    return render_template(
        "changes/form.html",
        form=form,
        change=change,
        preview=preview,
        understood=understood,
        body_preview=request.form.get("action") == "preview",
    ), status


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    _require_engineer()
    form = _prepare(ChangeForm())
    response, preview = _editor(form, None)
    return response or _render_editor(form, None, preview)


@bp.route("/<int:change_id>/edit", methods=["GET", "POST"])
@login_required
def edit(change_id: int):
    """Edit a draft, or reschedule/revise a scheduled change."""
    _require_engineer()
    change = get_managed_change_or_404(change_id, current_user)
    if change.status not in services.EDITABLE:
        flash(f"A {change.status.replace('_', ' ')} change cannot be edited.", "error")
        return redirect(url_for("changes.show", change_id=change.id))
    form = _prepare(ChangeForm())
    if request.method == "GET":
        _fill_from(form, change)
        return _render_editor(form, change, _opening_preview(form, change))
    response, preview = _editor(form, change)
    return response or _render_editor(form, change, preview)


def _opening_preview(form: ChangeForm, change: Change):
    """The notice check the editor opens with (not only after a field changes); with
    ``?reschedule=earliest`` the form is pre-filled with the earliest allowed start, the
    duration kept, and checked again (issue #16 item 2)."""
    at = now()
    inp = services.input_of(change)
    preview = services.preview(inp, at, change)
    earliest = preview.check.earliest_start
    if request.args.get("reschedule") == "earliest" and earliest > inp.starts_at:
        inp = replace(inp, starts_at=earliest, ends_at=earliest + (inp.ends_at - inp.starts_at))
        zone = viewer_zone()
        form.starts_at.data, form.ends_at.data = (
            _wall(inp.starts_at, zone),
            _wall(inp.ends_at, zone),
        )
        preview = services.preview(inp, at, change)
        flash(
            "The start is moved to the earliest allowed start, keeping the duration; "
            "save to keep it.",
            "info",
        )
    return preview


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
    approval = approval_plan = None
    if current_user.is_staff and change.status == PENDING_APPROVAL:
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
        may_decide=change.status == "pending_approval"
        and emergency.may_approve(current_user, change),
        approval=approval,
        approval_size=actions.announcement_size(approval_plan.affected)
        if approval_plan is not None
        else None,
        forms=views_actions.action_forms(),
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
