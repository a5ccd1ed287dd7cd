"""Lifecycle actions on the change page: publish, emergency request/approve/reject, start,
complete and cancel. Registered on the ``changes`` blueprint by ``routes``.

Each view loads the change through ``queries`` (404 across teams), calls one service, commits
once, and turns a refusal into a page that says why: a publish refusal names every blocking
tenant, its requirement and the earliest start that would pass; a refused start lists the
tenants whose gates are shut.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from portal.changes import actions, emergency, lifecycle, reach, services
from portal.changes.forms import (
    ApproveForm,
    JustificationForm,
    ReasonForm,
    RejectForm,
    StartForm,
)
from portal.changes.queries import get_change_or_404, get_managed_change_or_404
from portal.clock import now
from portal.errors import Conflict, DomainError
from portal.extensions import db
from portal.tenants.forms import required


def action_forms() -> dict:
    """The CSRF-carrying forms the change page renders its buttons with."""
    return {
        "start": StartForm(),
        "reason": ReasonForm(),
        "justify": JustificationForm(),
        "approve": ApproveForm(),
        "reject": RejectForm(),
    }


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


def _managed(change_id: int):
    if not (current_user.is_admin or current_user.is_engineer):
        abort(403)
    return get_managed_change_or_404(change_id, current_user)


def _back(change):
    return redirect(url_for("changes.show", change_id=change.id))


def _csrf_or_400(form) -> None:
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400, "The form expired or was not sent by this site; reload the page and retry.")


def register(bp: Blueprint) -> None:
    """Add the action routes to ``bp``."""

    @bp.post("/<int:change_id>/publish")
    @login_required
    def publish(change_id: int):
        change = _managed(change_id)
        _csrf_or_400(StartForm())
        try:
            revision = services.publish(change, actor=current_user, now=now())
            db.session.commit()
        except services.NoticeWindowViolation as err:
            db.session.rollback()
            return render_template(
                "changes/refused.html",
                change=change,
                check=err.check,
                message=err.message,
                justify=JustificationForm(),
            ), 409
        except DomainError as err:
            db.session.rollback()
            flash(err.message, "error")
            return _back(change)
        flash(
            f"Published (revision {revision.number}). Notices go out to every affected tenant now.",
            "success",
        )
        return _back(change)

    @bp.post("/<int:change_id>/emergency")
    @login_required
    def request_emergency(change_id: int):
        change = _managed(change_id)
        form = JustificationForm()
        if form.validate_on_submit():
            try:
                emergency.request_emergency(
                    change, required(form.justification), actor=current_user, now=now()
                )
                db.session.commit()
            except DomainError as err:
                db.session.rollback()
                flash(err.message, "error")
                return _back(change)
            flash(
                "Sent for emergency approval. Another approver of the team must decide.", "success"
            )
            return _back(change)
        _csrf_or_400(form)
        _, check = services.run_check(services.input_of(change), now())
        return render_template(
            "changes/refused.html",
            change=change,
            check=check,
            message="Write a justification of at least 20 characters.",
            justify=form,
        ), 400

    @bp.post("/<int:change_id>/emergency/approve")
    @login_required
    def approve_emergency(change_id: int):
        change = _managed(change_id)
        form = ApproveForm()
        _csrf_or_400(form)
        try:
            emergency.approve(change, approver=current_user, now=now(), note=form.note.data or "")
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            if err.status == 403:
                abort(403, err.message)
            flash(err.message, "error")
            return _back(change)
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
        try:
            emergency.reject(change, approver=current_user, now=now(), reason=required(form.reason))
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            if err.status == 403:
                abort(403, err.message)
            flash(err.message, "error")
            return _back(change)
        flash("Emergency rejected; the change is a draft again.", "success")
        return _back(change)

    @bp.post("/<int:change_id>/start")
    @login_required
    def start(change_id: int):
        change = _managed(change_id)
        form = StartForm()
        _csrf_or_400(form)
        only_open = bool(form.only_open.data)
        try:
            result = lifecycle.start(change, actor=current_user, now=now(), only_open=only_open)
            db.session.commit()
        except Conflict as err:
            db.session.rollback()
            pending = [g for g in lifecycle.gates(change, now()) if g.started_at is None]
            shut = [g for g in pending if not g.state.open]
            return render_template(
                "changes/start_refused.html",
                change=change,
                message=err.message,
                shut=shut,
                any_open=len(shut) < len(pending),
                groups=actions.group_gates(shut),
                form=StartForm(),
            ), 409
        flash(started_message(result), "success")
        return _back(change)

    @bp.post("/<int:change_id>/complete")
    @login_required
    def complete(change_id: int):
        change = _managed(change_id)
        _csrf_or_400(StartForm())
        try:
            lifecycle.complete(change, actor=current_user, now=now())
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            flash(err.message, "error")
            return _back(change)
        flash("Change completed.", "success")
        return _back(change)

    @bp.post("/<int:change_id>/tenants/<int:tenant_id>/resend-notice")
    @login_required
    def resend_notice(change_id: int, tenant_id: int):
        change = get_change_or_404(change_id, current_user)
        _csrf_or_400(StartForm())
        try:
            queued = reach.resend_notice(change, tenant_id, actor=current_user, now=now())
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            if err.status == 404:
                abort(404)
            flash(err.message, "error")
            return _back(change)
        flash(f"Notice queued again ({queued} message(s)); its notice period starts at delivery.")
        return _back(change)

    @bp.route("/<int:change_id>/cancel", methods=["GET", "POST"])
    @login_required
    def cancel(change_id: int):
        change = _managed(change_id)
        form = ReasonForm()
        if form.validate_on_submit():
            try:
                lifecycle.cancel(
                    change, actor=current_user, now=now(), reason=required(form.reason)
                )
                db.session.commit()
            except DomainError as err:
                db.session.rollback()
                flash(err.message, "error")
                return _back(change)
            flash("Change cancelled; the affected tenants are told.", "success")
            return _back(change)
        _csrf_or_400(form)
        return render_template(
            "changes/cancel.html", change=change, form=form
        ), 400 if form.errors else 200
