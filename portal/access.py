"""Who may see and do what. Every tenant-scoped query goes through here.

Rules (DESIGN.md "Who uses it"):
- admin: everything;
- account manager: the tenants assigned to them;
- platform engineer: the changes of their teams and the tenants those changes affect;
- customer user: their own tenant only.
Another tenant's object is a 404, never a 403, so that existence does not leak.
"""

from __future__ import annotations

from functools import wraps
from typing import TypeVar

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import Select, false, select, true

from portal.extensions import Model, db
from portal.inputs import parse_id
from portal.tenants.models import AccountManagerAssignment, Tenant

M = TypeVar("M", bound=Model)

ROLE_CHECKS = {
    "admin": lambda u: u.is_admin,
    "engineer": lambda u: u.is_engineer,
    "account_manager": lambda u: u.is_account_manager,
    "staff": lambda u: u.is_staff,
    "customer": lambda u: u.is_customer,
    "tenant_admin": lambda u: u.is_customer and u.is_tenant_admin,
}


def has_role(user, *roles: str) -> bool:
    return user.is_authenticated and any(ROLE_CHECKS[r](user) for r in roles)


def roles_required(*roles: str):
    """View decorator: log in first, then any of ``roles`` (admins always pass)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not (current_user.is_admin or has_role(current_user, *roles)):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def tenant_ids_visible_to(user) -> Select | None:
    """A SELECT of the tenant ids ``user`` may see, or None meaning "all" (admin)."""
    if user.is_admin:
        return None
    if user.is_customer:
        return select(Tenant.id).where(Tenant.id == user.tenant_id)
    if user.is_account_manager:
        return select(AccountManagerAssignment.tenant_id).where(
            AccountManagerAssignment.user_id == user.id
        )
    return select(Tenant.id).where(false())


def tenant_filter(column, user):
    """A WHERE clause restricting ``column`` (a tenant id column) to what ``user`` may see."""
    ids = tenant_ids_visible_to(user)
    return true() if ids is None else column.in_(ids)


def scoped(query: Select, column, user) -> Select:
    """Restrict ``query`` on ``column`` (a tenant id column) to the user's tenants."""
    return query.where(tenant_filter(column, user))


def get_for_tenant_or_404(model: type[M], object_id, user, tenant_column=None) -> M:
    """Load ``model`` by primary key if it belongs to a tenant ``user`` may see, else 404."""
    column = tenant_column if tenant_column is not None else model.__table__.c.tenant_id
    pk = model.__mapper__.primary_key[0]
    obj = db.session.execute(
        scoped(select(model).where(pk == object_id), column, user)
    ).scalar_one_or_none()
    if obj is None:
        abort(404)
    return obj


def get_tenant_or_404(slug_or_id, user) -> Tenant:
    """A tenant the user may see, by slug or id (an id only in its canonical spelling,
    ``portal.inputs.parse_id``: ``01`` is no alias of tenant 1); else a 404."""
    q = select(Tenant)
    number = parse_id(slug_or_id)
    if number is not None:
        q = q.where(Tenant.id == number)
    elif isinstance(slug_or_id, str) and len(slug_or_id) <= 64:
        q = q.where(Tenant.slug == slug_or_id)
    else:
        abort(404)
    tenant = db.session.execute(scoped(q, Tenant.id, user)).scalar_one_or_none()
    if tenant is None:
        abort(404)
    return tenant


def team_ids_of(user) -> list[int]:
    return [m.team_id for m in user.memberships]
