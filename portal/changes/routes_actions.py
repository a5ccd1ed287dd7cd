"""Lifecycle actions on the change page: publish, emergency request/approve/reject, start,
complete, cancel and "resend notice", on the ``changes`` blueprint of ``routes``.

Each view loads the change through ``queries`` (404 across teams), calls one service and
commits once (``portal.web.submit``), and turns a refusal into a page that says why: a publish
refusal names every blocking tenant, its requirement and the earliest start that would pass; a
refused start lists the tenants whose gates are shut.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from portal.changes import actions, emergency, lifecycle, reach, services
from portal.changes.forms import ApproveForm, JustificationForm, ReasonForm, RejectForm, StartForm
from portal.changes.models import Change
from portal.changes.queries import get_change_or_404, get_managed_change_or_404
from portal.changes.routes import bp
from portal.changes.rules import PublishCheck
from portal.clock import now
from portal.errors import Conflict, DomainError
from portal.tenants.forms import required
from portal.web.submit import commit, commit_or_flash


def started_message(result: lifecycle.StartResult) -> str:
    """One sentence for the change page after a start: who went live, who still waits."""
    n = len(result.started)
    text = f"Started for {n} tenant{'' if n == 1 else 's'}" if n else "Started (no affected tenant)"
    if result.waiting:
        names = ", ".join(g.name for g in result.waiting[:5])
        more = f" and {len(result.waiting) - 5} more" if len(result.waiting) > 5 else ""
        text += (
            f"; {len(result.waiting)} not started, gate still shut: {names}{more}. "
            "Start them here once their gates open"
        )
    return text + "."


def _managed(change_id: int) -> Change:
    if not (current_user.is_admin or current_user.is_engineer):
        abort(403)
    return get_managed_change_or_404(change_id, current_user)


def _back(change: Change):
    return redirect(url_for("changes.show", change_id=change.id))


def _csrf_or_400(form) -> None:
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400, "The form expired or was not sent by this site; reload the page and retry.")


def _publish_refused(change: Change, check: PublishCheck, message: str, justify, status: int):
    """The refusal page of a publish or an emergency request; the emergency form is offered
    only when the emergency service would take the request (``emergency.may_request``)."""
    return render_template(
        "changes/refused.html",
        change=change,
        check=check,
        message=message,
        justify=justify,
        may_request_emergency=emergency.may_request(change, check),
    ), status


@bp.post("/<int:change_id>/publish")
@login_required
def publish(change_id: int):
    change = _managed(change_id)
    _csrf_or_400(StartForm())
    done = commit(lambda: services.publish(change, actor=current_user, now=now()))
    if isinstance(done, services.NoticeWindowViolation):
        return _publish_refused(change, done.check, done.message, JustificationForm(), 409)
    if isinstance(done, DomainError):
        flash(done.message, "error")
        return _back(change)
    flash(
        f"Published (revision {done.number}). Notices go out to every affected tenant now.",
        "success",
    )
    return _back(change)


@bp.post("/<int:change_id>/emergency")
@login_required
def request_emergency(change_id: int):
    change = _managed(change_id)
    form = JustificationForm()
    if form.validate_on_submit():
        done = commit_or_flash(
            lambda: emergency.request_emergency(
                change, required(form.justification), actor=current_user, now=now()
            )
        )
        if not isinstance(done, DomainError):
            flash(
                "Sent for emergency approval. Another approver of the team must decide.", "success"
            )
        return _back(change)
    _csrf_or_400(form)
    _, check = services.run_check(services.input_of(change), now())
    message = "Write a justification of at least 20 characters."
    return _publish_refused(change, check, message, form, 400)


def _decided(done) -> bool:
    """After an emergency decision: a 403 refusal aborts, another is flashed; True when
    the decision was committed."""
    if isinstance(done, DomainError):
        if done.status == 403:
            abort(403, done.message)
        flash(done.message, "error")
        return False
    return True


@bp.post("/<int:change_id>/emergency/approve")
@login_required
def approve_emergency(change_id: int):
    change = _managed(change_id)
    form = ApproveForm()
    _csrf_or_400(form)
    if _decided(
        commit(
            lambda: emergency.approve(
                change, approver=current_user, now=now(), note=form.note.data or ""
            )
        )
    ):
        flash(
            "Emergency approved: published as short notice; a breach record was written "
            "for every affected tenant.",
            "success",
        )
    return _back(change)


@bp.post("/<int:change_id>/emergency/reject")
@login_required
def reject_emergency(change_id: int):
    change = _managed(change_id)
    form = RejectForm()
    if not form.validate_on_submit():
        _csrf_or_400(form)
        flash("Say why the emergency is rejected.", "error")
        return _back(change)
    if _decided(
        commit(
            lambda: emergency.reject(
                change, approver=current_user, now=now(), reason=required(form.reason)
            )
        )
    ):
        flash("Emergency rejected; the change is a draft again.", "success")
    return _back(change)


@bp.post("/<int:change_id>/start")
@login_required
def start(change_id: int):
    change = _managed(change_id)
    form = StartForm()
    _csrf_or_400(form)
    only_open = bool(form.only_open.data)
    done = commit(
        lambda: lifecycle.start(change, actor=current_user, now=now(), only_open=only_open),
        refusals=Conflict,
    )
    if isinstance(done, DomainError):
        at = now()
        gates = lifecycle.gates(change, at)
        shut = [g for g in gates if g.started_at is None and not g.state.open]
        offered = actions.actions_for(change, gates, at)
        return render_template(
            "changes/start_refused.html",
            change=change,
            message=done.message,
            shut=shut,
            start=offered.start,
            groups=actions.group_gates(shut),
            form=StartForm(),
        ), 409
    flash(started_message(done), "success")
    return _back(change)


@bp.post("/<int:change_id>/complete")
@login_required
def complete(change_id: int):
    change = _managed(change_id)
    _csrf_or_400(StartForm())
    done = commit_or_flash(lambda: lifecycle.complete(change, actor=current_user, now=now()))
    if not isinstance(done, DomainError):
        flash("Change completed.", "success")
    return _back(change)


@bp.post("/<int:change_id>/tenants/<int:tenant_id>/resend-notice")
@login_required
def resend_notice(change_id: int, tenant_id: int):
    change = get_change_or_404(change_id, current_user)
    _csrf_or_400(StartForm())
    done = commit(lambda: reach.resend_notice(change, tenant_id, actor=current_user, now=now()))
    if isinstance(done, DomainError):
        if done.status == 404:
            abort(404)
        flash(done.message, "error")
        return _back(change)
    flash(f"Notice queued again ({done} message(s)); its notice period starts at delivery.")
    return _back(change)


@bp.route("/<int:change_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(change_id: int):
    change = _managed(change_id)
    form = ReasonForm()
    if form.validate_on_submit():
        done = commit_or_flash(
            lambda: lifecycle.cancel(
                change, actor=current_user, now=now(), reason=required(form.reason)
            )
        )
        if not isinstance(done, DomainError):
            flash("Change cancelled; the affected tenants are told.", "success")
        return _back(change)
    _csrf_or_400(form)
    return render_template(
        "changes/cancel.html", change=change, form=form
    ), 400 if form.errors else 200
