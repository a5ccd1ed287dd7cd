"""Web routes: the email acknowledgement link, and acknowledging, objecting, waiving and
answering objections in the portal. Each POST commits once; refusals roll back and change
nothing. Every form posts with a CSRF token and comes back to the change page."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.routing import BuildError

from portal.access import get_tenant_or_404, has_role, tenant_filter
from portal.acks import panel
from portal.acks.forms import AnswerForm, ConfirmAckForm, ObjectionForm, WaiverForm
from portal.acks.links import AckLinkError, read_ack_token
from portal.acks.models import CHANNEL_PORTAL, Objection
from portal.acks.services import (
    acknowledge,
    acknowledge_by_link,
    answer_objection,
    can_answer,
    check_link,
    link_ack,
    object_to,
    waive,
)
from portal.changes.models import Change, ChangeTenant
from portal.changes.queries import get_change_or_404
from portal.clock import now
from portal.errors import DomainError
from portal.extensions import db
from portal.tenants.forms import required
from portal.tenants.models import Tenant
from portal.web.submit import commit, commit_or_flash, commit_or_show

bp = Blueprint("acks", __name__)

MESSAGES = {
    "counted": "Acknowledged. Thank you — the owning team can see it.",
    "seen": "Noted. Your organisation had already acknowledged this version; "
    "we recorded that you have seen it too.",
    "replay": "You had already acknowledged this version. Nothing changed.",
}


def change_page(change_id: int) -> str:
    """The change page (``changes.show``); the same path the notice emails link to."""
    try:
        return url_for("changes.show", change_id=change_id)
    except BuildError:  # the changes feature's page is not registered (yet)
        return f"/changes/{change_id}"


@bp.app_template_global("ack_panel")
def ack_panel(change: Change) -> dict:
    """Data for templates/acks/_panel.html on the change page, for the current viewer."""
    return panel.for_viewer(change, current_user)


@bp.app_template_global("ack_requested")
def ack_requested(change: Change, data: dict) -> bool:
    """Whether the change page's status line shows "acknowledgement requested", given the
    viewer's panel ``data`` (``ack_panel``)."""
    return panel.ack_requested_badge(change, current_user, data)


def _refused(status: int, message: str):
    return render_template("acks/link_refused.html", message=message, status=status), status


@bp.route("/ack/<token>", methods=["GET", "POST"])
def ack_link(token: str):
    """GET shows the change and a confirm button; only the POST acknowledges (mail scanners
    that prefetch the link record nothing). Works without signing in."""
    try:
        claim = read_ack_token(token)
    except AckLinkError as err:
        return _refused(410 if err.expired else 400, err.reason)
    form = ConfirmAckForm()
    try:
        change, ct = check_link(claim)
    except DomainError as err:  # a read: nothing written yet, nothing to roll back
        return _refused(err.status, err.message)
    if form.validate_on_submit():
        outcome = commit(lambda: acknowledge_by_link(claim, now=now()))
        if isinstance(outcome, DomainError):
            return _refused(outcome.status, outcome.message)
        return render_template(
            "acks/link_done.html",
            change=change,
            tenant=ct.tenant,
            outcome=outcome,
            message=MESSAGES[outcome.status],
            page_zone=_zone_of(ct.tenant),
        )
    status = 400 if form.is_submitted() else 200
    return render_template(
        "acks/link.html",
        change=change,
        tenant=ct.tenant,
        claim=claim,
        form=form,
        existing=link_ack(claim),
        page_zone=_zone_of(ct.tenant),
    ), status


def _zone_of(tenant: Tenant) -> str:
    """The zone the link page shows times in: the tenant's, as its notice email did (issue 15
    item 3: opened without signing in, it must not fall back to UTC and another weekday)."""
    return tenant.time_zone or "UTC"


def _customer_change(change_id: int) -> Change:
    """A published change affecting the signed-in customer's own tenant, else 404."""
    if not current_user.is_customer:
        abort(404)
    change = get_change_or_404(change_id, current_user)
    if not panel.affects(change.id, current_user.tenant_id):
        abort(404)
    return change


@bp.post("/changes/<int:change_id>/acknowledge")
@login_required
def acknowledge_in_portal(change_id: int):
    change = _customer_change(change_id)
    if not ConfirmAckForm().validate_on_submit():
        abort(400, description="The form expired; reload the change page and try again.")
    outcome = commit_or_flash(
        lambda: acknowledge(
            change, current_user.tenant_id, user=current_user, now=now(), channel=CHANNEL_PORTAL
        ),
        prefix="Not acknowledged: ",
        suffix=".",
    )
    if not isinstance(outcome, DomainError):
        flash(MESSAGES[outcome.status], "success")
    return redirect(change_page(change.id))


@bp.route("/changes/<int:change_id>/object", methods=["GET", "POST"])
@login_required
def object_page(change_id: int):
    change = _customer_change(change_id)
    form = ObjectionForm()
    if form.validate_on_submit():
        done = commit_or_show(
            form,
            lambda: object_to(
                change,
                current_user.tenant_id,
                user=current_user,
                reason=required(form.reason),
                now=now(),
            ),
            field="reason",
        )
        if isinstance(done, DomainError):
            return render_template("acks/object.html", change=change, form=form), done.status
        flash("Objection sent to the owning team and your account manager.", "success")
        return redirect(change_page(change.id))
    status = 400 if form.errors else 200
    return render_template("acks/object.html", change=change, form=form), status


def _waiver_tenants(change: Change) -> list[tuple[str, str]]:
    """(slug, name) of the change's affected tenants the staff member may record waivers for."""
    rows = db.session.execute(
        select(Tenant.slug, Tenant.name)
        .join(ChangeTenant, ChangeTenant.tenant_id == Tenant.id)
        .where(
            ChangeTenant.change_id == change.id,
            ChangeTenant.active.is_(True),
            tenant_filter(Tenant.id, current_user),
        )
        .order_by(Tenant.name)
    ).all()
    return [(r.slug, r.name) for r in rows]


@bp.route("/changes/<int:change_id>/waive", methods=["GET", "POST"])
@login_required
def waive_page(change_id: int):
    """A tenant admin's waiver, or an account manager's record of a waiver agreed offline."""
    form = WaiverForm()
    if current_user.is_customer:
        change = _customer_change(change_id)
        if not current_user.is_tenant_admin:
            abort(403, description="Only a tenant admin of your organisation can waive notice.")
        tenant_id = current_user.tenant_id
    else:
        if not has_role(current_user, "account_manager", "admin"):
            abort(403, description="Only account managers record waivers agreed offline.")
        change = get_change_or_404(change_id, current_user)
        form.tenant.choices = _waiver_tenants(change)
        if not form.tenant.choices:
            abort(404)
        tenant_id = None
    if form.validate_on_submit():

        def record():
            chosen = tenant_id
            if chosen is None:
                chosen = get_tenant_or_404(form.tenant.data or "", current_user).id
            return waive(
                change,
                chosen,
                user=current_user,
                now=now(),
                channel=CHANNEL_PORTAL,
                agreed_by=form.agreed_by.data,
                note=form.note.data or "",
            )

        done = commit_or_show(form, record, field="note")
        if isinstance(done, DomainError):
            return render_template("acks/waive.html", change=change, form=form), done.status
        flash("Waiver recorded: the tenant's gate opens at the start time.", "success")
        return redirect(change_page(change.id))
    status = 400 if form.errors else 200
    return render_template("acks/waive.html", change=change, form=form), status


@bp.post("/objections/<int:objection_id>/answer")
@login_required
def answer(objection_id: int):
    """The owning team's answer, posted from the objection card on the change page."""
    objection = db.session.get(Objection, objection_id)
    if objection is None or not panel.may_see_objection(current_user, objection):
        abort(404)
    if not can_answer(current_user, db.session.get_one(Change, objection.change_id)):
        abort(403, description="Only engineers of the owning team answer objections.")
    form = AnswerForm()
    if not form.validate_on_submit():
        flash("Not sent: " + "; ".join(e for errs in form.errors.values() for e in errs), "error")
        return redirect(change_page(objection.change_id) + f"#objection-{objection.id}")
    done = commit_or_flash(
        lambda: answer_objection(
            objection, user=current_user, answer=required(form.answer), now=now()
        ),
        prefix="Not sent: ",
        suffix=".",
    )
    if not isinstance(done, DomainError):
        flash("Answer posted; the tenant sees it on the change page.", "success")
    return redirect(change_page(objection.change_id))
