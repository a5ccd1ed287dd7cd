"""Admin screens for the notice rules: impact levels and their notice, per-service policies,
tenants' contract terms, and provider-wide blackout windows.

Admins only (others get 403 from ``roles_required``). Every change goes through
``policy_services`` / ``blackout_services``, which write the ledger entry; the view commits.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.access import roles_required
from portal.auth.forms import EmptyForm
from portal.catalog.models import Service
from portal.changes import blackout_services, policy_services
from portal.changes.forms import (
    BlackoutForm,
    ContractTermForm,
    ImpactLevelForm,
    NoticeHoursForm,
    ServicePolicyForm,
    zone_choices,
)
from portal.changes.models import ImpactLevel, ServicePolicy
from portal.clock import now
from portal.errors import DomainError
from portal.extensions import db
from portal.templating import viewer_zone
from portal.tenants.forms import required
from portal.tenants.models import ContractTerm, Tenant
from portal.timezones import format_when_and_utc, input_zone, localise
from portal.web.submit import commit_or_flash, commit_or_show

bp = Blueprint("notice_admin", __name__, url_prefix="/admin/notice")


def _levels() -> list[ImpactLevel]:
    return list(db.session.execute(select(ImpactLevel).order_by(ImpactLevel.rank)).scalars())


def _services() -> list[Service]:
    return list(db.session.execute(select(Service).order_by(Service.name)).scalars())


def _page(level_form=None, policy_form=None, blackout_form=None, status=200):
    policy_form = policy_form or ServicePolicyForm()
    policy_form.service.choices = [(s.id, s.name) for s in _services()]
    policy_form.impact.choices = [(lv.code, lv.name) for lv in _levels()]
    blackout_form = blackout_form or BlackoutForm()
    blackout_form.time_zone.choices = zone_choices()
    if not blackout_form.time_zone.data:
        blackout_form.time_zone.data = viewer_zone()
    policies = (
        db.session.execute(
            select(ServicePolicy).join(Service).order_by(Service.name, ServicePolicy.impact)
        )
        .scalars()
        .all()
    )
    blackouts = db.session.execute(blackout_services.windows(None)).scalars().all()
    return render_template(
        "changes/admin/policies.html",
        levels=_levels(),
        policies=policies,
        blackouts=blackouts,
        level_form=level_form or ImpactLevelForm(),
        policy_form=policy_form,
        blackout_form=blackout_form,
        hours_form=NoticeHoursForm(),
        button_form=EmptyForm(),
        now=now(),
    ), status


@bp.get("")
@roles_required("admin")
def index():
    return _page()


@bp.post("/levels")
@roles_required("admin")
def add_level():
    form = ImpactLevelForm()
    if form.validate_on_submit():
        level = commit_or_show(
            form,
            lambda: policy_services.add_impact_level(
                code=form.code.data,
                name=form.name.data,
                rank=form.rank.data,
                notice_hours=form.notice_hours.data,
                actor=current_user,
                now=now(),
            ),
            field="code",
        )
        if not isinstance(level, DomainError):
            flash(f"Impact level {level.name} added.", "success")
            return redirect(url_for("notice_admin.index"))
    return _page(level_form=form, status=400)


@bp.post("/levels/<code>")
@roles_required("admin")
def set_level_notice(code: str):
    level = db.get_or_404(ImpactLevel, code)
    form = NoticeHoursForm()
    if form.validate_on_submit():
        done = commit_or_flash(
            lambda: policy_services.set_impact_notice(
                level, notice_hours=required(form.notice_hours), actor=current_user, now=now()
            )
        )
        if not isinstance(done, DomainError):
            flash(f"{level.name} now needs {form.notice_hours.data} h notice.", "success")
            return redirect(url_for("notice_admin.index"))
    else:
        flash("The notice must be a whole number of hours, at least 1.", "error")
    return redirect(url_for("notice_admin.index"))


@bp.post("/policies")
@roles_required("admin")
def set_policy():
    form = ServicePolicyForm()
    if form.validate_on_submit():
        done = commit_or_show(
            form,
            lambda: policy_services.set_service_policy(
                service_id=form.service.data,
                impact=form.impact.data,
                notice_hours=form.notice_hours.data,
                actor=current_user,
                now=now(),
            ),
            field="notice_hours",
        )
        if not isinstance(done, DomainError):
            flash("Service policy saved.", "success")
            return redirect(url_for("notice_admin.index"))
    return _page(policy_form=form, status=400)


@bp.post("/policies/<int:policy_id>/delete")
@roles_required("admin")
def delete_policy(policy_id: int):
    policy = db.get_or_404(ServicePolicy, policy_id)
    policy_services.delete_service_policy(policy, actor=current_user, now=now())
    db.session.commit()
    flash("Service policy removed.", "success")
    return redirect(url_for("notice_admin.index"))


def parse_window(form: BlackoutForm):
    """The form's wall times in its zone, as aware UTC (DST gaps and overlaps refused)."""
    zone = input_zone(form.time_zone.data, field="time_zone")
    return (
        localise(required(form.starts_at), zone, "starts_at"),
        localise(required(form.ends_at), zone, "ends_at"),
    )


def add_window_from(
    form, *, tenant_id: int | None
) -> tuple[dt.datetime, dt.datetime] | DomainError:
    """Declare the blackout window a ``BlackoutForm`` describes (provider-wide when
    ``tenant_id`` is None) and commit: its (start, end) in UTC, or the refusal, shown on the
    form's start field. Shared by the admin page and the customer's blackouts page."""

    def add_window():
        starts_at, ends_at = parse_window(form)
        blackout_services.add_window(
            tenant_id=tenant_id,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=form.reason.data,
            actor=current_user,
            now=now(),
        )
        return starts_at, ends_at

    return commit_or_show(form, add_window, field="starts_at")


@bp.post("/blackouts")
@roles_required("admin")
def add_blackout():
    form = BlackoutForm()
    form.time_zone.choices = zone_choices()
    if form.validate_on_submit():
        window = add_window_from(form, tenant_id=None)
        if not isinstance(window, DomainError):
            starts_at, ends_at = window
            zone = form.time_zone.data
            flash(
                "Provider-wide blackout window added, read as "
                f"{format_when_and_utc(starts_at, zone)} – {format_when_and_utc(ends_at, zone)}.",
                "success",
            )
            return redirect(url_for("notice_admin.index"))
    return _page(blackout_form=form, status=400)


@bp.post("/blackouts/<int:window_id>/delete")
@roles_required("admin")
def delete_blackout(window_id: int):
    window = blackout_services.get_window_or_404(window_id, None)
    done = commit_or_flash(
        lambda: blackout_services.remove_window(window, actor=current_user, now=now())
    )
    if not isinstance(done, DomainError):
        flash("Blackout window removed.", "success")
    return redirect(url_for("notice_admin.index"))


# Contract terms, per tenant (also shown on the tenant's admin page).
def _term_page(tenant: Tenant, form=None, status=200):
    form = form or ContractTermForm()
    form.service.choices = [(0, "All services")] + [(s.id, s.name) for s in _services()]
    terms = (
        db.session.execute(
            select(ContractTerm)
            .where(ContractTerm.tenant_id == tenant.id)
            .order_by(ContractTerm.id)
        )
        .scalars()
        .all()
    )
    return render_template(
        "changes/admin/terms.html", tenant=tenant, terms=terms, form=form, button_form=EmptyForm()
    ), status


@bp.get("/tenants/<int:tenant_id>/terms")
@roles_required("admin")
def terms(tenant_id: int):
    return _term_page(db.get_or_404(Tenant, tenant_id))


@bp.post("/tenants/<int:tenant_id>/terms")
@roles_required("admin")
def add_term(tenant_id: int):
    tenant = db.get_or_404(Tenant, tenant_id)
    form = ContractTermForm()
    if form.validate_on_submit():
        done = commit_or_show(
            form,
            lambda: policy_services.add_contract_term(
                tenant,
                service_id=form.service.data or None,
                notice_hours=required(form.notice_hours),
                reference=form.reference.data,
                actor=current_user,
                now=now(),
            ),
            field="notice_hours",
        )
        if not isinstance(done, DomainError):
            flash("Contract term added.", "success")
            return redirect(url_for("notice_admin.terms", tenant_id=tenant.id))
    return _term_page(tenant, form, status=400)


@bp.post("/tenants/<int:tenant_id>/terms/<int:term_id>/delete")
@roles_required("admin")
def delete_term(tenant_id: int, term_id: int):
    tenant = db.get_or_404(Tenant, tenant_id)
    term = policy_services.get_term_or_404(tenant, term_id)
    policy_services.delete_contract_term(term, actor=current_user, now=now())
    db.session.commit()
    flash("Contract term removed.", "success")
    return redirect(url_for("notice_admin.terms", tenant_id=tenant.id))
