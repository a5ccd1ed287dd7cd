"""The change editor: drafting a change, and editing or rescheduling one (issue #16 item 2:
it opens with the notice check, and can pre-fill the earliest allowed start).

Views of the ``changes`` blueprint of ``routes``. Every save goes through ``services``
(``create_change``, ``update_change``) and commits once; a refusal lands on the field it
names, a material revision inside the notice window shows the full preview.
"""

from __future__ import annotations

from dataclasses import replace

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.catalog.models import Service
from portal.changes import services
from portal.changes.forms import ChangeForm, zone_choices
from portal.changes.inputs import ChangeInput, parse_change_input
from portal.changes.models import Change
from portal.changes.queries import get_managed_change_or_404
from portal.changes.routes import bp, impact_levels
from portal.clock import now
from portal.errors import DomainError
from portal.extensions import db
from portal.templating import viewer_zone
from portal.tenants.forms import show_error
from portal.timezones import get_zone
from portal.web.submit import commit


def _require_engineer() -> None:
    if not (current_user.is_admin or current_user.is_engineer):
        abort(403)


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
        (i.code, f"{i.name} ({i.notice_seconds // 3600} h notice)") for i in impact_levels()
    ]
    form.time_zone.choices = zone_choices()
    if not form.time_zone.data:
        form.time_zone.data = viewer_zone()
    return form


def _wall(when, zone: str) -> str:
    """The wall-clock text the editor shows for ``when`` in ``zone`` (seconds only when the
    stored time has them, so nothing is silently truncated)."""
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
    """Handle the editor's POST: preview (no save) or save. Returns (response or None,
    preview or None)."""
    if not form.validate_on_submit():
        return None, None
    try:
        inp = parse_change_input(
            _untouched(form.raw(), change), user=current_user, now=now(), current=change
        )
        if request.form.get("action") == "preview":
            return None, services.preview(inp, now(), change)
    except DomainError as err:
        db.session.rollback()
        show_error(form, err, "title")
        return None, None
    if change is None:
        created = commit(lambda: services.create_change(inp, author=current_user, now=now()))
        if isinstance(created, DomainError):
            return None, _refused(form, created, inp, None)
        flash("Draft saved. Publish it when the preview says it can go.", "success")
        return redirect(url_for("changes.show", change_id=created.id)), None
    revision = commit(lambda: services.update_change(change, inp, actor=current_user, now=now()))
    if isinstance(revision, DomainError):
        return None, _refused(form, revision, inp, change)
    if revision is None:
        flash("Draft saved.", "success")
    else:
        flash(
            f"Revision {revision.number} published: "
            + (
                "material — the notice clock restarts for the affected tenants."
                if revision.material
                else "non-material update; customers are told, their notice clock is unchanged."
            ),
            "success",
        )
    return redirect(url_for("changes.show", change_id=change.id)), None


def _refused(form: ChangeForm, err: DomainError, inp: ChangeInput, change: Change | None):
    """A refused save on the form; a material revision inside the window shows why, with
    the full preview (returned)."""
    if isinstance(err, services.NoticeWindowViolation):
        form.form_errors.append(err.message)
        return services.preview(inp, now(), change)
    show_error(form, err, "title")
    return None


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
