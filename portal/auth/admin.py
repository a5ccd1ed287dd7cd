"""Admin screens for user accounts: list and search, create staff or customer users, edit
roles, deactivate and reactivate, set a temporary password. Rules live in
``portal.tenants.accounts``."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, selectinload

from portal.access import roles_required
from portal.auth.forms import EmptyForm
from portal.auth.models import User
from portal.catalog.models import PlatformTeam
from portal.clock import now
from portal.errors import DomainError, InvalidInput
from portal.extensions import db
from portal.inputs import parse_id
from portal.tenants import accounts
from portal.tenants.forms import (
    CustomerEditForm,
    CustomerUserForm,
    PasswordForm,
    StaffEditForm,
    StaffUserForm,
    required,
)
from portal.tenants.models import Tenant
from portal.tenants.routes import like
from portal.web.submit import commit_or_flash, commit_or_show

bp = Blueprint("users_admin", __name__, url_prefix="/admin/users")

KINDS = {"staff": "provider staff", "customer": "customer users"}


@bp.get("")
@roles_required("admin")
def index():
    q = request.args.get("q", "").strip()[:100]
    kind = request.args.get("kind", "")
    # A row shows the user's tenant and roles (team memberships): loaded for the whole page.
    query = (
        select(User)
        .options(joinedload(User.tenant), selectinload(User.memberships))
        .order_by(User.name, User.id)
    )
    if q:
        query = query.where(
            or_(User.email.ilike(like(q), escape="\\"), User.name.ilike(like(q), escape="\\"))
        )
    if kind == "staff":
        query = query.where(User.tenant_id.is_(None))
    elif kind == "customer":
        query = query.where(User.tenant_id.is_not(None))
    page = db.paginate(
        query, per_page=current_app.config["PAGE_SIZE"], max_per_page=200, error_out=False
    )
    args = {k: v for k, v in {"q": q, "kind": kind if kind in KINDS else ""}.items() if v}
    return render_template("users/index.html", page=page, q=q, kind=kind, kinds=KINDS, args=args)


def _team_choices() -> list[tuple[int, str]]:
    teams = db.session.execute(select(PlatformTeam).order_by(PlatformTeam.name)).scalars()
    return [(t.id, t.name) for t in teams]


def _tenant_choices() -> list[tuple[int, str]]:
    rows = db.session.execute(select(Tenant.id, Tenant.name, Tenant.slug).order_by(Tenant.name))
    return [(0, "— choose —")] + [(i, f"{n} ({s})") for i, n, s in rows]


@bp.route("/new", methods=["GET", "POST"])
@roles_required("admin")
def create():
    kind = "customer" if request.args.get("kind") == "customer" else "staff"
    if kind == "staff":
        form = StaffUserForm()
        form.teams.choices = _team_choices()
    else:
        form = CustomerUserForm()
        form.tenant.choices = _tenant_choices()
        if request.method == "GET" and parse_id(request.args.get("tenant")) is not None:
            form.tenant.data = parse_id(request.args["tenant"])
    if form.validate_on_submit():
        user = commit_or_show(form, lambda: _create(kind, form), field="email")
        if not isinstance(user, DomainError):
            flash(f"User {user.email} created. Pass the temporary password on safely.", "success")
            return redirect(url_for("users_admin.show", user_id=user.id))
    return render_template("users/new.html", form=form, kind=kind), 400 if form.errors else 200


def _create(kind: str, form) -> User:
    common = {
        "email": form.email.data,
        "name": form.name.data,
        "password": form.password.data,
        "actor": current_user,
        "now": now(),
    }
    if kind == "staff":
        found = [db.session.get(PlatformTeam, i) for i in form.teams.data or []]
        teams = [team for team in found if team is not None]
        if len(teams) < len(found):
            raise InvalidInput("choose teams from the list", field="teams")
        return accounts.create_user(
            **common,
            is_admin=form.is_admin.data,
            is_account_manager=form.is_account_manager.data,
            teams=teams,
            approver=form.approver.data,
        )
    tenant = db.session.get(Tenant, form.tenant.data) if form.tenant.data else None
    if tenant is None:
        raise InvalidInput("choose the user's tenant", field="tenant")
    return accounts.create_user(**common, tenant=tenant, is_tenant_admin=form.is_tenant_admin.data)


def _edit_form(user: User):
    return StaffEditForm(obj=user) if user.is_staff else CustomerEditForm(obj=user)


def _render(user: User, form=None, password_form=None, status=200):
    return render_template(
        "users/show.html",
        user=user,
        form=form or _edit_form(user),
        password_form=password_form or PasswordForm(),
        button_form=EmptyForm(),
    ), status


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def show(user_id: int):
    user = db.get_or_404(User, user_id)
    form = _edit_form(user)
    if form.validate_on_submit():
        roles = (
            {"is_admin": form.is_admin.data, "is_account_manager": form.is_account_manager.data}
            if user.is_staff
            else {"is_tenant_admin": form.is_tenant_admin.data}
        )
        done = commit_or_show(
            form,
            lambda: accounts.update_user(
                user, name=form.name.data, actor=current_user, now=now(), **roles
            ),
            field="name",
        )
        if not isinstance(done, DomainError):
            flash("User saved.", "success")
            return redirect(url_for("users_admin.show", user_id=user.id))
    return _render(user, form=form, status=400 if form.errors else 200)


@bp.post("/<int:user_id>/active")
@roles_required("admin")
def set_active(user_id: int):
    user = db.get_or_404(User, user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    active = request.form.get("active") == "1"
    done = commit_or_flash(lambda: accounts.set_active(user, active, actor=current_user, now=now()))
    if not isinstance(done, DomainError):
        flash(f"{user.email} {'reactivated' if active else 'deactivated'}.", "success")
    return redirect(url_for("users_admin.show", user_id=user.id))


@bp.post("/<int:user_id>/password")
@roles_required("admin")
def set_password(user_id: int):
    user = db.get_or_404(User, user_id)
    form = PasswordForm()
    if form.validate_on_submit():
        accounts.set_temporary_password(
            user, required(form.password), actor=current_user, now=now()
        )
        db.session.commit()
        flash("Temporary password set. Pass it on safely.", "success")
        return redirect(url_for("users_admin.show", user_id=user.id))
    return _render(user, password_form=form, status=400)
