"""Your organisation: a customer's tenant admins manage their own tenant's users and notice
contacts; every customer user may read the contact list.

Objects are always loaded through ``access.get_for_tenant_or_404`` and the current user's own
tenant, so another tenant's user or contact is a 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.access import get_for_tenant_or_404, roles_required
from portal.auth.forms import EmptyForm
from portal.auth.models import User
from portal.clock import now
from portal.errors import DomainError
from portal.extensions import db
from portal.notify.render import address_warning
from portal.tenants import accounts, services
from portal.tenants.forms import ContactForm, TenantUserForm
from portal.tenants.models import NoticeContact
from portal.web.submit import commit_or_flash, commit_or_show

bp = Blueprint("org", __name__, url_prefix="/settings")


def _own_tenant():
    if current_user.tenant is None:  # admins are staff: they use the admin screens
        abort(404)
    return current_user.tenant


def _users_page(form=None, status=200):
    tenant = _own_tenant()
    users = (
        db.session.execute(select(User).where(User.tenant_id == tenant.id).order_by(User.name))
        .scalars()
        .all()
    )
    return render_template(
        "tenants/org_users.html",
        tenant=tenant,
        users=users,
        form=form or TenantUserForm(),
        button_form=EmptyForm(),
    ), status


@bp.route("/users", methods=["GET", "POST"])
@roles_required("tenant_admin")
def users():
    tenant = _own_tenant()
    form = TenantUserForm()
    if form.validate_on_submit():
        user = commit_or_show(
            form,
            lambda: accounts.create_user(
                email=form.email.data,
                name=form.name.data,
                password=form.password.data,
                tenant=tenant,
                is_tenant_admin=form.is_tenant_admin.data,
                actor=current_user,
                now=now(),
            ),
            field="email",
        )
        if not isinstance(user, DomainError):
            flash(f"{user.email} can now sign in with the temporary password you chose.", "success")
            return redirect(url_for("org.users"))
    return _users_page(form, 400 if form.errors else 200)


def _own_user(user_id: int) -> User:
    user = get_for_tenant_or_404(User, user_id, current_user)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return user


@bp.post("/users/<int:user_id>/active")
@roles_required("tenant_admin")
def set_active(user_id: int):
    user = _own_user(user_id)
    active = request.form.get("active") == "1"
    done = commit_or_flash(lambda: accounts.set_active(user, active, actor=current_user, now=now()))
    if not isinstance(done, DomainError):
        flash(f"{user.email} {'reactivated' if active else 'deactivated'}.", "success")
    return redirect(url_for("org.users"))


@bp.post("/users/<int:user_id>/tenant-admin")
@roles_required("tenant_admin")
def set_tenant_admin(user_id: int):
    user = _own_user(user_id)
    done = commit_or_flash(
        lambda: accounts.update_user(
            user,
            name=user.name,
            actor=current_user,
            now=now(),
            is_tenant_admin=request.form.get("tenant_admin") == "1",
        )
    )
    if not isinstance(done, DomainError):
        flash(f"{user.email} updated.", "success")
    return redirect(url_for("org.users"))


def _contacts_page(form=None, status=200):
    tenant = _own_tenant()
    return render_template(
        "tenants/org_contacts.html",
        tenant=tenant,
        contacts=tenant.contacts,
        form=form or ContactForm(),
        button_form=EmptyForm(),
    ), status


@bp.get("/contacts")
@roles_required("customer")
def contacts():
    return _contacts_page()


@bp.post("/contacts")
@roles_required("tenant_admin")
def add_contact():
    tenant = _own_tenant()
    form = ContactForm()
    if form.validate_on_submit():
        contact = commit_or_show(
            form,
            lambda: services.add_contact(
                tenant, email=form.email.data, name=form.name.data, actor=current_user, now=now()
            ),
            field="email",
        )
        if not isinstance(contact, DomainError):
            flash(f"{contact.email} now receives your organisation's notices.", "success")
            if warning := address_warning(contact.email):
                flash(warning, "warning")
            return redirect(url_for("org.contacts"))
    return _contacts_page(form, 400)


@bp.post("/contacts/<int:contact_id>/delete")
@roles_required("tenant_admin")
def remove_contact(contact_id: int):
    contact = get_for_tenant_or_404(NoticeContact, contact_id, current_user)
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.remove_contact(contact, actor=current_user, now=now())
    db.session.commit()
    flash(f"{contact.email} removed.", "success")
    return redirect(url_for("org.contacts"))
