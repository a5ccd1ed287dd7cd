"""Web routes of the notify feature: email preferences, one-click unsubscribe, failed
deliveries for account managers, and the change page's delivery panel (a template global)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.routing import BuildError

from portal.access import roles_required
from portal.clock import now
from portal.errors import DomainError, InvalidInput
from portal.extensions import csrf, db
from portal.notify import status
from portal.notify.forms import NO_OPTIONAL, ConfirmForm, PreferencesForm
from portal.notify.preferences import (
    impact_choices,
    preference_of,
    save_preference,
    tenant_services,
)
from portal.notify.unsubscribe import read_token, unsubscribe
from portal.web.submit import commit_or_show

bp = Blueprint("notify", __name__)


@bp.app_template_global("deliveries_for_change")
def deliveries_for_change(change, user=None):
    """Data for templates/notify/_deliveries.html, scoped to what ``user`` may see."""
    return status.deliveries_for_change(change, user if user is not None else current_user)


@bp.route("/settings/email", methods=["GET", "POST"])
@login_required
def preferences():
    """A customer user opts in to optional notices by impact and service."""
    if not current_user.is_customer:
        abort(404)
    pref = preference_of(current_user)
    services = tenant_services(current_user.tenant_id)
    form = PreferencesForm(obj=None)
    form.min_impact.choices = [(NO_OPTIONAL, "No optional notices")] + impact_choices()
    form.services.choices = services
    if request.method == "GET" and pref is not None:
        form.min_impact.data = pref.min_impact or NO_OPTIONAL
        form.all_services.data = pref.all_services
        form.services.data = [s.service_id for s in pref.services]
    if form.validate_on_submit():
        saved = commit_or_show(
            form,
            lambda: save_preference(
                current_user,
                min_impact=form.min_impact.data or None,
                all_services=form.all_services.data,
                service_ids=form.services.data or [],
                now=now(),
            ),
            field="min_impact",
            refusals=InvalidInput,
        )
        if not isinstance(saved, DomainError):
            flash("Your email preferences are saved.", "success")
            return redirect(url_for("notify.preferences"))
    status_code = 400 if request.method == "POST" else 200
    return render_template(
        "notify/preferences.html", form=form, has_services=bool(services)
    ), status_code


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058 one-click: mail clients POST without a session; the token is the key
def unsubscribe_link(token: str):
    """GET shows a confirm button; POST (the button, or a mail client's one-click) unsubscribes."""
    try:
        kind, tenant_id, email = read_token(token)
    except InvalidInput as err:
        return render_template(
            "notify/unsubscribe.html", error=err.message, done=None, email=None, form=ConfirmForm()
        ), 404
    if request.method == "POST":
        what = unsubscribe(kind, tenant_id, email, now=now())
        db.session.commit()
        return render_template(
            "notify/unsubscribe.html", error=None, done=what, email=email, form=ConfirmForm()
        )
    what = "reminders" if kind == "reminder" else "optional change notices"
    return render_template(
        "notify/unsubscribe.html", error=None, done=None, email=email, what=what, form=ConfirmForm()
    )


@bp.route("/deliveries/failed")
@roles_required("account_manager")
def failed():
    """Failed deliveries to the tenants the account manager looks after, with answers."""
    rows = status.failed_deliveries(current_user)
    return render_template("notify/failed.html", rows=rows, change_url=change_page)


def change_page(change_id: int) -> str:
    """The change page (``changes.show``, owned by the changes feature)."""
    try:
        return url_for("changes.show", change_id=change_id)
    except BuildError:
        return f"/changes/{change_id}"
