"""A customer's own blackout windows: every user of the tenant reads them, tenant admins
declare and remove them within the limits an admin sets (``TENANT_BLACKOUT_MAX_HOURS``,
``TENANT_BLACKOUT_MAX_PER_YEAR``).

Windows are always loaded with the current user's own tenant id, so another tenant's window
is a 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from portal.access import roles_required
from portal.auth.forms import EmptyForm
from portal.changes import blackout_services
from portal.changes.forms import BlackoutForm, zone_choices
from portal.changes.routes_admin import add_window_from
from portal.clock import now
from portal.errors import DomainError
from portal.extensions import db
from portal.templating import viewer_zone
from portal.timezones import format_when_and_utc
from portal.web.submit import commit_or_flash

bp = Blueprint("tenant_blackouts", __name__, url_prefix="/settings/blackouts")


def _tenant_id() -> int:
    if current_user.tenant_id is None:  # staff use the admin screen
        abort(404)
    return current_user.tenant_id


def _page(form=None, status=200):
    form = form or BlackoutForm()
    form.time_zone.choices = zone_choices()
    if not form.time_zone.data:
        form.time_zone.data = viewer_zone()
    windows = db.session.execute(blackout_services.windows(_tenant_id())).scalars().all()
    max_hours, max_per_year = blackout_services.tenant_limits()
    return render_template(
        "changes/blackouts.html",
        windows=windows,
        form=form,
        button_form=EmptyForm(),
        max_hours=max_hours,
        max_per_year=max_per_year,
        now=now(),
        may_edit=current_user.is_tenant_admin,
    ), status


@bp.get("")
@roles_required("customer")
def index():
    return _page()


@bp.post("")
@roles_required("tenant_admin")
def add():
    form = BlackoutForm()
    form.time_zone.choices = zone_choices()
    if form.validate_on_submit():
        window = add_window_from(form, tenant_id=_tenant_id())
        if not isinstance(window, DomainError):
            starts_at, ends_at = window
            zone = form.time_zone.data
            flash(
                f"Blackout window declared, read as {format_when_and_utc(starts_at, zone)} – "
                f"{format_when_and_utc(ends_at, zone)}: no change affecting you may start or "
                "run in it.",
                "success",
            )
            return redirect(url_for("tenant_blackouts.index"))
    return _page(form, status=400)


@bp.post("/<int:window_id>/delete")
@roles_required("tenant_admin")
def delete(window_id: int):
    window = blackout_services.get_window_or_404(window_id, _tenant_id())
    done = commit_or_flash(
        lambda: blackout_services.remove_window(window, actor=current_user, now=now())
    )
    if not isinstance(done, DomainError):
        flash("Blackout window removed.", "success")
    return redirect(url_for("tenant_blackouts.index"))
