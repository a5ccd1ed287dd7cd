"""Admin screens for the catalog: platform teams with their members, services with their
components. Rules live in ``portal.catalog.services``."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.access import roles_required
from portal.auth.forms import EmptyForm
from portal.auth.models import User
from portal.catalog import services
from portal.catalog.forms import ComponentForm, MemberForm, ServiceForm, TeamForm
from portal.catalog.models import Component, PlatformTeam, Service, TeamMembership
from portal.clock import now
from portal.errors import DomainError, InvalidInput
from portal.extensions import db
from portal.tenants.forms import required
from portal.web.submit import commit_or_flash, commit_or_show

bp = Blueprint("catalog", __name__, url_prefix="/admin")


@bp.get("/teams")
@roles_required("admin")
def teams():
    """Platform teams, paginated; a row's member count and services are loaded for the whole
    page in two statements."""
    query = (
        select(PlatformTeam)
        .options(selectinload(PlatformTeam.memberships), selectinload(PlatformTeam.services))
        .order_by(PlatformTeam.name, PlatformTeam.id)
    )
    page = db.paginate(query, per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("catalog/teams.html", teams=page.items, page=page)


def _member_choices(team: PlatformTeam | None) -> list[tuple[int, str]]:
    query = select(User).where(User.tenant_id.is_(None), User.active).order_by(User.name)
    if team is not None:
        query = query.where(
            User.id.not_in(select(TeamMembership.user_id).where(TeamMembership.team_id == team.id))
        )
    return [(0, "— choose —")] + [
        (u.id, f"{u.name} <{u.email}>") for u in db.session.execute(query).scalars()
    ]


def _team_page(team: PlatformTeam | None, form=None, member_form=None, status=200):
    member_form = member_form or MemberForm()
    member_form.user.choices = _member_choices(team)
    return render_template(
        "catalog/team.html",
        team=team,
        form=form or TeamForm(obj=team),
        member_form=member_form,
        button_form=EmptyForm(),
    ), status


@bp.route("/teams/new", methods=["GET", "POST"], defaults={"team_id": None})
@bp.route("/teams/<int:team_id>", methods=["GET", "POST"])
@roles_required("admin")
def team(team_id: int | None):
    team = db.get_or_404(PlatformTeam, team_id) if team_id else None
    form = TeamForm(obj=team)
    if form.validate_on_submit():
        saved = commit_or_show(
            form,
            lambda: services.save_team(
                team,
                slug=required(form.slug),
                name=required(form.name),
                actor=current_user,
                now=now(),
            ),
            field="slug",
        )
        if not isinstance(saved, DomainError):
            flash(f"Team {saved.name} saved.", "success")
            return redirect(url_for("catalog.team", team_id=saved.id))
    return _team_page(team, form=form, status=400 if form.errors else 200)


@bp.post("/teams/<int:team_id>/members")
@roles_required("admin")
def add_member(team_id: int):
    team = db.get_or_404(PlatformTeam, team_id)
    form = MemberForm()
    if form.validate_on_submit():
        user = db.session.get(User, form.user.data) if form.user.data else None

        def join():
            if user is None:
                raise InvalidInput("choose an engineer from the list", field="user")
            return services.add_member(
                team, user, is_approver=form.is_approver.data, actor=current_user, now=now()
            )

        done = commit_or_show(form, join, field="user")
        if user is not None and not isinstance(done, DomainError):
            flash(f"{user.name} joined {team.name}.", "success")
            return redirect(url_for("catalog.team", team_id=team.id))
    return _team_page(team, member_form=form, status=400)


def _membership(team_id: int, membership_id: int) -> TeamMembership:
    membership = db.session.execute(
        select(TeamMembership).where(
            TeamMembership.id == membership_id, TeamMembership.team_id == team_id
        )
    ).scalar_one_or_none()
    if membership is None:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return membership


@bp.post("/teams/<int:team_id>/members/<int:membership_id>/approver")
@roles_required("admin")
def set_approver(team_id: int, membership_id: int):
    membership = _membership(team_id, membership_id)
    services.set_approver(
        membership, request.form.get("approver") == "1", actor=current_user, now=now()
    )
    db.session.commit()
    flash("Approver right updated.", "success")
    return redirect(url_for("catalog.team", team_id=team_id))


@bp.post("/teams/<int:team_id>/members/<int:membership_id>/delete")
@roles_required("admin")
def remove_member(team_id: int, membership_id: int):
    membership = _membership(team_id, membership_id)
    services.remove_member(membership, actor=current_user, now=now())
    db.session.commit()
    flash("Member removed.", "success")
    return redirect(url_for("catalog.team", team_id=team_id))


@bp.get("/services")
@roles_required("admin")
def services_index():
    """Services, paginated, with their owning team and components loaded for the page."""
    query = (
        select(Service)
        .options(joinedload(Service.team), selectinload(Service.components))
        .order_by(Service.name, Service.id)
    )
    page = db.paginate(query, per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("catalog/services.html", services=page.items, page=page)


def _service_form(service: Service | None) -> ServiceForm:
    if service is None:
        return ServiceForm()
    return ServiceForm(
        data={
            "slug": service.slug,
            "name": service.name,
            "team": service.team_id,
            "description": service.description,
        }
    )


def _service_page(service: Service | None, form=None, component_form=None, status=200):
    form = form or _service_form(service)
    form.team.choices = [(0, "— choose —")] + [
        (t.id, t.name)
        for t in db.session.execute(select(PlatformTeam).order_by(PlatformTeam.name)).scalars()
    ]
    return render_template(
        "catalog/service.html",
        service=service,
        form=form,
        component_form=component_form or ComponentForm(),
        button_form=EmptyForm(),
    ), status


@bp.route("/services/new", methods=["GET", "POST"], defaults={"service_id": None})
@bp.route("/services/<int:service_id>", methods=["GET", "POST"])
@roles_required("admin")
def service(service_id: int | None):
    service = db.get_or_404(Service, service_id) if service_id else None
    form = _service_form(service)
    if form.validate_on_submit():
        team = db.session.get(PlatformTeam, form.team.data) if form.team.data else None
        saved = commit_or_show(
            form,
            lambda: services.save_service(
                service,
                slug=required(form.slug),
                name=required(form.name),
                description=form.description.data,
                team=team,
                actor=current_user,
                now=now(),
            ),
            field="slug",
        )
        if not isinstance(saved, DomainError):
            flash(f"Service {saved.name} saved.", "success")
            return redirect(url_for("catalog.service", service_id=saved.id))
    return _service_page(service, form=form, status=400 if form.errors else 200)


@bp.post("/services/<int:service_id>/components")
@roles_required("admin")
def add_component(service_id: int):
    service = db.get_or_404(Service, service_id)
    form = ComponentForm()
    if form.validate_on_submit():
        done = commit_or_show(
            form,
            lambda: services.add_component(
                service,
                slug=required(form.slug),
                name=required(form.name),
                actor=current_user,
                now=now(),
            ),
            field="slug",
        )
        if not isinstance(done, DomainError):
            flash("Component added.", "success")
            return redirect(url_for("catalog.service", service_id=service.id))
    return _service_page(service, component_form=form, status=400)


@bp.post("/services/<int:service_id>/components/<int:component_id>/delete")
@roles_required("admin")
def remove_component(service_id: int, component_id: int):
    component = db.session.execute(
        select(Component).where(Component.id == component_id, Component.service_id == service_id)
    ).scalar_one_or_none()
    if component is None:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    done = commit_or_flash(
        lambda: services.remove_component(component, actor=current_user, now=now())
    )
    if not isinstance(done, DomainError):
        flash("Component removed.", "success")
    return redirect(url_for("catalog.service", service_id=service_id))
