"""The landing page per role and the demo's time-travel control (input hygiene for every
request lives in ``portal.security``)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.auth.forms import EmptyForm
from portal.auth.services import is_safe_next
from portal.changes.approvals import awaiting_approval
from portal.changes.asks import needs_action
from portal.changes.upcoming import upcoming_for
from portal.clock import get_clock, now
from portal.extensions import db
from portal.web.attention import attention_for

bp = Blueprint("web", __name__)

TRAVEL_STEPS = {
    "1h": dt.timedelta(hours=1),
    "6h": dt.timedelta(hours=6),
    "1d": dt.timedelta(days=1),
    "3d": dt.timedelta(days=3),
}


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    at = now()
    upcoming = upcoming_for(current_user, at)
    needs, needs_total = needs_action(current_user, at)
    return render_template(
        "web/home.html",
        upcoming=upcoming,
        needs=needs,
        needs_total=needs_total,
        attention=attention_for(current_user, at, upcoming),
        awaiting_approval=awaiting_approval(current_user),
    )


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. It reads nothing, so a database outage does not get
    every web process restarted; ``/readyz`` (``portal.ops.routes``) checks the database."""
    return {"status": "ok"}


@bp.post("/demo/time-travel")
@login_required
def time_travel():
    """Move the demo's clock forward so a user can watch a notice window elapse."""
    if not current_app.config.get("DEMO"):
        abort(404)
    form = EmptyForm()
    step = TRAVEL_STEPS.get(request.form.get("step", ""))
    if not form.validate_on_submit() or step is None:
        abort(400, description="unknown time-travel step")
    new_now = get_clock().travel_by(step)
    db.session.commit()
    flash(f"Demo time moved forward; it is now {new_now:%Y-%m-%d %H:%M} UTC.", "info")
    target = request.referrer or url_for("web.home")
    path = urlsplit(target)._replace(scheme="", netloc="").geturl()
    return redirect(path if is_safe_next(path) else url_for("web.home"))
