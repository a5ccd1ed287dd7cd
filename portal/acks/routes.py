"""Web routes: the email acknowledgement link, and acknowledging, objecting, waiving and
answering objections in the portal. Each POST commits once; refusals change nothing."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template
from flask_login import current_user, login_required

from portal.access import get_tenant_or_404, has_role, tenant_filter
from portal.acks import panel
from portal.acks.forms import AnswerForm, ConfirmAckForm, ObjectionForm, WaiverForm
from portal.acks.links import AckLinkError, read_ack_token
from portal.acks.models import CHANNEL_PORTAL, Objection
from portal.acks.services import (LinkRefused, acknowledge, acknowledge_by_link,
                                  answer_objection, check_link, link_ack, object_to, waive)
from portal.changes.models import Change
from portal.clock import now
from portal.errors import DomainError
from portal.extensions import db

bp = Blueprint("acks", __name__)

MESSAGES = {"counted": "Acknowledged. Thank you — the owning team can see it.",
            "seen": "Noted. Your organisation had already acknowledged this version; "
                    "we recorded that you have seen it too.",
            "replay": "You had already acknowledged this version. Nothing changed."}


def change_page(change_id: int) -> str:
    return f"/changes/{change_id}"


@bp.app_template_global("ack_panel")
def ack_panel(change: Change) -> dict:
    """Data for templates/acks/_panel.html on the change page, for the current viewer."""
    return panel.for_viewer(change, current_user)


def _refused(status: int, message: str):
    return render_template("acks/link_refused.html", message=message, status=status), status


@bp.route("/ack/<token>", methods=["GET", "POST"])
def ack_link(token: str):
    """GET shows the change and a confirm button; only the POST acknowledges."""
    try:
        claim = read_ack_token(token)
    except AckLinkError as err:
        return _refused(410 if err.expired else 400, err.reason)
    form = ConfirmAckForm()
    try:
        change, ct = check_link(claim)
        if form.validate_on_submit():
            outcome = acknowledge_by_link(claim, now=now())
            db.session.commit()
            return render_template("acks/link_done.html", change=change, tenant=ct.tenant,
                                   outcome=outcome, message=MESSAGES[outcome.status])
    except LinkRefused as err:
        db.session.rollback()
        return _refused(err.status, err.message)
    except DomainError as err:
        db.session.rollback()
        return _refused(err.status, err.message)
    status = 400 if form.is_submitted() else 200
    return render_template("acks/link.html", change=change, tenant=ct.tenant, claim=claim,
                           form=form, existing=link_ack(claim)), status


def _customer_change(change_id: int) -> Change:
    """A published change affecting the signed-in customer's tenant, else 404."""
    change = db.session.get(Change, change_id)
    if change is None or not change.is_published or not current_user.is_customer:
        abort(404)
    if not panel.affects(change.id, current_user.tenant_id):
        abort(404)
    return change


@bp.post("/changes/<int:change_id>/acknowledge")
@login_required
def acknowledge_in_portal(change_id: int):
    change = _customer_change(change_id)
    if not ConfirmAckForm().validate_on_submit():
        abort(400, description="the form expired; reload the page and try again")
    outcome = acknowledge(change, current_user.tenant_id, user=current_user, now=now(),
                          channel=CHANNEL_PORTAL)
    db.session.commit()
    flash(MESSAGES[outcome.status], "success")
    return redirect(change_page(change.id))


@bp.route("/changes/<int:change_id>/object", methods=["GET", "POST"])
@login_required
def object_page(change_id: int):
    change = _customer_change(change_id)
    form = ObjectionForm()
    if form.validate_on_submit():
        try:
            object_to(change, current_user.tenant_id, user=current_user,
                      reason=form.reason.data, now=now())
            db.session.commit()
            flash("Objection sent to the owning team and your account manager.", "success")
            return redirect(change_page(change.id))
        except DomainError as err:
            db.session.rollback()
            form.reason.errors.append(err.message)
    status = 400 if form.errors else 200
    return render_template("acks/object.html", change=change, form=form), status


def _waiver_tenants(change: Change) -> list[tuple[str, str]]:
    """(slug, name) of the change's affected tenants the staff member may record waivers for."""
    from sqlalchemy import select

    from portal.changes.models import ChangeTenant
    from portal.tenants.models import Tenant

    rows = db.session.execute(
        select(Tenant.slug, Tenant.name).join(ChangeTenant, ChangeTenant.tenant_id == Tenant.id)
        .where(ChangeTenant.change_id == change.id, ChangeTenant.active.is_(True),
               tenant_filter(Tenant.id, current_user)).order_by(Tenant.name)).all()
    return [(r.slug, r.name) for r in rows]


@bp.route("/changes/<int:change_id>/waive", methods=["GET", "POST"])
@login_required
def waive_page(change_id: int):
    """A tenant admin's waiver, or an account manager's record of an offline one."""
    form = WaiverForm()
    if current_user.is_customer:
        change = _customer_change(change_id)
        tenant_id = current_user.tenant_id
    else:
        if not has_role(current_user, "account_manager", "admin"):
            abort(403)
        change = db.session.get(Change, change_id)
        if change is None or not change.is_published:
            abort(404)
        form.tenant.choices = _waiver_tenants(change)
        if not form.tenant.choices:
            abort(404)
        tenant_id = None
    if form.validate_on_submit():
        try:
            if tenant_id is None:
                tenant_id = get_tenant_or_404(form.tenant.data or "", current_user).id
            waive(change, tenant_id, user=current_user, now=now(), channel=CHANNEL_PORTAL,
                  agreed_by=form.agreed_by.data, note=form.note.data or "")
            db.session.commit()
            flash("Waiver recorded: the tenant's gate opens at the start time.", "success")
            return redirect(change_page(change.id))
        except DomainError as err:
            db.session.rollback()
            target = form.agreed_by if getattr(err, "field", None) == "agreed_by" else form.note
            target.errors = [*target.errors, err.message]
            return render_template("acks/waive.html", change=change, form=form), err.status
    status = 400 if form.errors else 200
    return render_template("acks/waive.html", change=change, form=form), status


@bp.post("/objections/<int:objection_id>/answer")
@login_required
def answer(objection_id: int):
    objection = db.session.get(Objection, objection_id)
    if objection is None or not panel.may_see_objection(current_user, objection):
        abort(404)
    form = AnswerForm()
    if not form.validate_on_submit():
        abort(400, description="write an answer (up to 4000 characters) before sending it")
    answer_objection(objection, user=current_user, answer=form.answer.data, now=now())
    db.session.commit()
    flash("Answer posted; the tenant sees it on the change page.", "success")
    return redirect(change_page(objection.change_id))
