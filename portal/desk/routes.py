"""Web pages of the desk, for account managers (their tenants) and admins (every tenant).

A change that affects none of the user's tenants, or a tenant not assigned to them, is a 404.
Bad filter or page parameters are shown as a message and replaced by the defaults.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.access import get_tenant_or_404, roles_required
from portal.auth.forms import EmptyForm
from portal.clock import now
from portal.desk import charts, chase, export, matrix, overview
from portal.desk.params import FILTERS, parse_listing_leniently
from portal.errors import Conflict, DomainError
from portal.web.submit import commit

bp = Blueprint("desk", __name__, url_prefix="/desk")

DESK_ROLES = ("account_manager",)  # admins always pass ``roles_required``


def _listing(filters: bool = True):
    listing, message = parse_listing_leniently(request.args, filters=filters)
    if message:
        flash(f"{message}; showing the default view instead.", "warning")
    return listing


@bp.get("/")
@roles_required(*DESK_ROLES)
def index():
    """Changes affecting my tenants: upcoming ones soonest first (default), or past ones."""
    listing = _listing(filters=False)
    when = request.args.get("when") if request.args.get("when") in overview.WHEN else None
    when = when or overview.UPCOMING
    page = overview.my_changes(current_user, listing, when)
    return render_template("desk/index.html", page=page, listing=listing, when=when)


@bp.get("/tenants")
@roles_required(*DESK_ROLES)
def tenants():
    """My tenants (all tenants for admins)."""
    listing = _listing(filters=False)
    page = overview.my_tenants(current_user, listing)
    return render_template("desk/tenants.html", page=page, listing=listing)


@bp.get("/tenants/<slug>")
@roles_required(*DESK_ROLES)
def tenant_history(slug: str):
    """Every change that affected one of my tenants, with its notice and acknowledgement."""
    tenant = get_tenant_or_404(slug, current_user)
    listing = _listing(filters=False)
    page = overview.tenant_history(tenant, listing)
    return render_template("desk/history.html", tenant=tenant, page=page, listing=listing)


@bp.get("/changes/<int:change_id>")
@roles_required(*DESK_ROLES)
def change_matrix(change_id: int):
    """The matrix of my tenants for one change, with counts and filters."""
    change = overview.visible_change_or_404(change_id, current_user)
    listing = _listing()
    page = matrix.matrix_page(change, current_user, listing, now())
    counts = matrix.summary(change, current_user)
    return render_template(
        "desk/matrix.html",
        change=change,
        page=page,
        listing=listing,
        counts=counts,
        filters=FILTERS,
        addresses=chase.filtered_addresses(change, current_user, listing),
        may_remind=chase.may_remind(change, now()),
        form=EmptyForm(),
    )


@bp.post("/changes/<int:change_id>/remind")
@roles_required(*DESK_ROLES)
def remind(change_id: int):
    """ "Send reminder now" to the matrix's current filter (issue #16 item 3)."""
    change = overview.visible_change_or_404(change_id, current_user)
    if not EmptyForm().validate_on_submit():
        abort(400, description="the form has expired; reload the page and try again")
    listing, _ = parse_listing_leniently(request.form)
    outcome = commit(
        lambda: chase.remind_now(change, current_user, listing, now=now()), refusals=Conflict
    )
    if isinstance(outcome, DomainError):
        flash(outcome.message[:1].upper() + outcome.message[1:] + ".", "error")
        return redirect(url_for("desk.change_matrix", change_id=change.id, **listing.args()))
    left_out = []
    if outcome.recent:
        left_out.append(f"{outcome.recent} reminded within the last hour")
    if outcome.acknowledged:
        left_out.append(f"{outcome.acknowledged} already acknowledged")
    if outcome.not_given:
        left_out.append(f"{outcome.not_given} not yet given notice")
    n = outcome.reminded
    message = f"Reminder queued for {n} tenant{'' if n == 1 else 's'} ({outcome.messages} email"
    message += f"{'' if outcome.messages == 1 else 's'})"
    message += f"; left out: {', '.join(left_out)}." if left_out else "."
    flash(message, "success" if n else "warning")
    return redirect(url_for("desk.change_matrix", change_id=change.id, **listing.args()))


@bp.get("/changes/<int:change_id>/summary")
@roles_required(*DESK_ROLES)
def change_summary(change_id: int):
    """Counts and charts: acknowledgement progress and notice delivery times."""
    change = overview.visible_change_or_404(change_id, current_user)
    counts = matrix.summary(change, current_user)
    ack_times, delays = charts.chart_data(change, current_user)
    published = change.published_at or change.created_at
    return render_template(
        "desk/summary.html",
        change=change,
        counts=counts,
        ack_chart=charts.ack_progress(ack_times, counts["tenants"], since=published, until=now()),
        delivery_chart=charts.delivery_times(delays),
        buckets=charts.delivery_buckets(delays),
    )


@bp.get("/changes/<int:change_id>/matrix.csv")
@roles_required(*DESK_ROLES)
def change_csv(change_id: int):
    """The matrix (current filter and search, every page) as CSV."""
    change = overview.visible_change_or_404(change_id, current_user)
    listing = _listing()
    rows = matrix.all_rows(change, current_user, listing, now())
    body = "".join(export.csv_lines(rows))
    name = f"change-{change.id}-notice-matrix.csv"
    return Response(
        body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
