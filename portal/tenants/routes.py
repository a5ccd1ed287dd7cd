"""Admin screens for tenants: list, create, edit, contacts, usage and account managers.

Other features add sections to the tenant page through ``templates/changes/_tenant_contract.html``
(included if present).
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from portal.access import roles_required
from portal.auth.forms import EmptyForm
from portal.auth.models import User
from portal.catalog.models import Component, Service, Usage
from portal.clock import now
from portal.errors import DomainError
from portal.extensions import db
from portal.inputs import parse_id
from portal.notify.render import address_warning
from portal.tenants import services
from portal.tenants.forms import (
    ContactForm,
    ManagerForm,
    TenantForm,
    UsageForm,
    add_field_error,
    required,
)
from portal.tenants.models import AccountManagerAssignment, NoticeContact, Tenant
from portal.web.submit import commit_or_show

bp = Blueprint("tenants", __name__, url_prefix="/admin/tenants")


def like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with wildcards in it taken literally."""
    text = text.replace("\x00", "")  # PostgreSQL cannot compare NUL characters
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@bp.get("")
@roles_required("admin")
def index():
    q = request.args.get("q", "").strip()[:100]
    # Contacts counted per row: loaded for the whole page in one statement.
    query = select(Tenant).options(selectinload(Tenant.contacts)).order_by(Tenant.name, Tenant.id)
    if q:
        query = query.where(
            or_(Tenant.slug.ilike(like(q), escape="\\"), Tenant.name.ilike(like(q), escape="\\"))
        )
    page = db.paginate(
        query, per_page=current_app.config["PAGE_SIZE"], max_per_page=200, error_out=False
    )
    return render_template("tenants/index.html", page=page, q=q)


@bp.route("/new", methods=["GET", "POST"])
@roles_required("admin")
def create():
    form = TenantForm()
    if form.validate_on_submit():
        tenant = commit_or_show(
            form,
            lambda: services.create_tenant(
                slug=required(form.slug),
                name=required(form.name),
                time_zone=required(form.time_zone),
                first_party=form.first_party.data,
                actor=current_user,
                now=now(),
            ),
            field="slug",
        )
        if not isinstance(tenant, DomainError):
            flash(f"Tenant {tenant.name} created.", "success")
            return redirect(url_for("tenants.show", tenant_id=tenant.id))
    return render_template("tenants/form.html", form=form, tenant=None), 400 if form.errors else 200


def _tenant(tenant_id: int) -> Tenant:
    return db.get_or_404(Tenant, tenant_id)


@bp.route("/<int:tenant_id>/edit", methods=["GET", "POST"])
@roles_required("admin")
def edit(tenant_id: int):
    tenant = _tenant(tenant_id)
    form = TenantForm(obj=tenant)
    if form.validate_on_submit():
        done = commit_or_show(
            form,
            lambda: services.update_tenant(
                tenant,
                slug=required(form.slug),
                name=required(form.name),
                time_zone=required(form.time_zone),
                first_party=form.first_party.data,
                actor=current_user,
                now=now(),
            ),
            field="slug",
        )
        if not isinstance(done, DomainError):
            flash("Tenant saved.", "success")
            return redirect(url_for("tenants.show", tenant_id=tenant.id))
    return render_template(
        "tenants/form.html", form=form, tenant=tenant
    ), 400 if form.errors else 200


def _usage_choices() -> list[tuple[str, str]]:
    choices = []
    for service in db.session.execute(select(Service).order_by(Service.name)).scalars():
        choices.append((f"s{service.id}", f"{service.name} (whole service)"))
        choices += [(f"c{c.id}", f"{service.name} / {c.name}") for c in service.components]
    return choices


def _manager_choices(tenant: Tenant) -> list[tuple[int, str]]:
    taken = select(AccountManagerAssignment.user_id).where(
        AccountManagerAssignment.tenant_id == tenant.id
    )
    users = db.session.execute(
        select(User)
        .where(
            User.tenant_id.is_(None), User.is_account_manager, User.active, User.id.not_in(taken)
        )
        .order_by(User.name)
    ).scalars()
    return [(u.id, f"{u.name} <{u.email}>") for u in users]


def _show(tenant: Tenant, contact_form=None, usage_form=None, manager_form=None, status=200):
    usage_form = usage_form or UsageForm()
    usage_form.target.choices = _usage_choices()
    manager_form = manager_form or ManagerForm()
    manager_form.user.choices = _manager_choices(tenant)
    managers = (
        db.session.execute(
            select(AccountManagerAssignment)
            .where(AccountManagerAssignment.tenant_id == tenant.id)
            .join(User)
            .order_by(User.name)
        )
        .scalars()
        .all()
    )
    users = (
        db.session.execute(select(User).where(User.tenant_id == tenant.id).order_by(User.name))
        .scalars()
        .all()
    )
    return render_template(
        "tenants/show.html",
        tenant=tenant,
        users=users,
        managers=managers,
        contact_form=contact_form or ContactForm(),
        usage_form=usage_form,
        manager_form=manager_form,
        button_form=EmptyForm(),
    ), status


@bp.get("/<int:tenant_id>")
@roles_required("admin")
def show(tenant_id: int):
    return _show(_tenant(tenant_id))


def _back(tenant: Tenant, message: str):
    flash(message, "success")
    return redirect(url_for("tenants.show", tenant_id=tenant.id))


@bp.post("/<int:tenant_id>/contacts")
@roles_required("admin")
def add_contact(tenant_id: int):
    tenant = _tenant(tenant_id)
    form = ContactForm()
    if form.validate_on_submit():
        contact = commit_or_show(
            form,
            lambda: services.add_contact(
                tenant,
                email=required(form.email),
                name=form.name.data,
                actor=current_user,
                now=now(),
            ),
            field="email",
        )
        if not isinstance(contact, DomainError):
            if warning := address_warning(contact.email):
                flash(warning, "warning")
            return _back(tenant, f"{contact.email} now receives {tenant.name}'s notices.")
    return _show(tenant, contact_form=form, status=400)


@bp.post("/<int:tenant_id>/contacts/<int:contact_id>/delete")
@roles_required("admin")
def remove_contact(tenant_id: int, contact_id: int):
    tenant = _tenant(tenant_id)
    contact = db.session.execute(
        select(NoticeContact).where(
            NoticeContact.id == contact_id, NoticeContact.tenant_id == tenant.id
        )
    ).scalar_one_or_none()
    if contact is None:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    email = contact.email  # read before the commit: the row may be gone after it
    services.remove_contact(contact, actor=current_user, now=now())
    db.session.commit()
    return _back(tenant, f"{email} removed.")


@bp.post("/<int:tenant_id>/usage")
@roles_required("admin")
def add_usage(tenant_id: int):
    tenant = _tenant(tenant_id)
    form = UsageForm()
    if form.validate_on_submit():
        target = form.target.data or ""
        service = component = None
        number = parse_id(target[1:])
        if target.startswith("c") and number is not None:
            component = db.session.get(Component, number)
            service = component.service if component else None
        elif target.startswith("s") and number is not None:
            service = db.session.get(Service, number)
        if service is None:
            add_field_error(form.target, "choose a service or component from the list")
        else:
            done = commit_or_show(
                form,
                lambda: services.add_usage(
                    tenant, service=service, component=component, actor=current_user, now=now()
                ),
                field="target",
            )
            if not isinstance(done, DomainError):
                return _back(tenant, "Usage recorded.")
    return _show(tenant, usage_form=form, status=400)


@bp.post("/<int:tenant_id>/usage/<int:usage_id>/delete")
@roles_required("admin")
def remove_usage(tenant_id: int, usage_id: int):
    tenant = _tenant(tenant_id)
    usage = db.session.execute(
        select(Usage).where(Usage.id == usage_id, Usage.tenant_id == tenant.id)
    ).scalar_one_or_none()
    if usage is None:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.remove_usage(usage, actor=current_user, now=now())
    db.session.commit()
    return _back(tenant, "Usage removed.")


@bp.post("/<int:tenant_id>/managers")
@roles_required("admin")
def assign_manager(tenant_id: int):
    tenant = _tenant(tenant_id)
    form = ManagerForm()
    if form.validate_on_submit():
        user = db.session.get(User, form.user.data) if form.user.data else None
        if user is None:
            add_field_error(form.user, "choose an account manager from the list")
        else:
            done = commit_or_show(
                form,
                lambda: services.assign_manager(tenant, user, actor=current_user, now=now()),
                field="user",
            )
            if not isinstance(done, DomainError):
                return _back(tenant, f"{user.name} now manages {tenant.name}.")
    return _show(tenant, manager_form=form, status=400)


@bp.post("/<int:tenant_id>/managers/<int:assignment_id>/delete")
@roles_required("admin")
def unassign_manager(tenant_id: int, assignment_id: int):
    tenant = _tenant(tenant_id)
    assignment = db.session.execute(
        select(AccountManagerAssignment).where(
            AccountManagerAssignment.id == assignment_id,
            AccountManagerAssignment.tenant_id == tenant.id,
        )
    ).scalar_one_or_none()
    if assignment is None:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.unassign_manager(assignment, actor=current_user, now=now())
    db.session.commit()
    return _back(tenant, "Account manager unassigned.")
