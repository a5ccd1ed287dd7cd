"""User accounts: creating staff and customer users, roles, deactivation, temporary passwords.

Used by the admin screens (any user) and by customers' tenant admins (their own tenant only;
the views load users through ``access.get_for_tenant_or_404``). Every change is ledgered in
the caller's transaction; the caller commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select

from portal.auth.models import User
from portal.auth.passwords import check_new_password
from portal.catalog.models import PlatformTeam, TeamMembership
from portal.errors import InvalidInput
from portal.extensions import db
from portal.ledger.services import record
from portal.tenants.models import Tenant
from portal.tenants.services import normalise_email


def _check_password(password: str, *, email: str, name: str = "") -> str:
    return check_new_password(password, email=email, name=name)


def _user_state(user: User) -> dict:
    return {
        "email": user.email,
        "name": user.name,
        "tenant_id": user.tenant_id,
        "is_admin": user.is_admin,
        "is_account_manager": user.is_account_manager,
        "is_tenant_admin": user.is_tenant_admin,
        "active": user.active,
    }


def create_user(
    *,
    email: str,
    name: str,
    password: str,
    actor,
    now: dt.datetime,
    tenant: Tenant | None = None,
    is_tenant_admin: bool = False,
    is_admin: bool = False,
    is_account_manager: bool = False,
    teams: Sequence[PlatformTeam] = (),
    approver: bool = False,
) -> User:
    """A staff user (``tenant`` None, with staff roles) or a customer user of ``tenant``."""
    email = normalise_email(email)
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a name is required", field="name")
    _check_password(password, email=email, name=name)
    if db.session.execute(select(User.id).where(func.lower(User.email) == email)).first():
        raise InvalidInput(f"a user with the email {email} already exists", field="email")
    staff = tenant is None
    user = User(
        email=email,
        name=name[:200],
        tenant_id=None if tenant is None else tenant.id,
        is_tenant_admin=bool(is_tenant_admin) and not staff,
        is_admin=bool(is_admin) and staff,
        is_account_manager=bool(is_account_manager) and staff,
        created_at=now,
    )
    user.set_password(password)
    # The creator chose this password and passed it on: the user picks their own at first sign-in.
    user.must_change_password = True
    db.session.add(user)
    db.session.flush()
    for team in teams if staff else ():
        db.session.add(TeamMembership(team_id=team.id, user_id=user.id, is_approver=approver))
    db.session.flush()
    record(
        "user.created",
        subject_type="user",
        subject_id=user.id,
        tenant_id=user.tenant_id,
        actor=actor,
        now=now,
        payload={
            **_user_state(user),
            "teams": [t.slug for t in teams] if staff else [],
            "approver": bool(approver) and staff,
        },
    )
    return user


def update_user(
    user: User,
    *,
    name: str,
    actor,
    now: dt.datetime,
    is_admin: bool | None = None,
    is_account_manager: bool | None = None,
    is_tenant_admin: bool | None = None,
) -> User:
    """Rename a user and change the roles that fit their kind (staff or customer)."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a name is required", field="name")
    before = _user_state(user)
    user.name = name[:200]
    if user.is_staff:
        if is_admin is not None:
            if user.id == getattr(actor, "id", None) and not is_admin:
                raise InvalidInput("you cannot remove your own admin role", field="is_admin")
            user.is_admin = bool(is_admin)
        if is_account_manager is not None:
            user.is_account_manager = bool(is_account_manager)
    elif is_tenant_admin is not None:
        if user.id == getattr(actor, "id", None) and not is_tenant_admin:
            raise InvalidInput(
                "you cannot remove your own tenant-admin flag", field="is_tenant_admin"
            )
        user.is_tenant_admin = bool(is_tenant_admin)
    db.session.flush()
    record(
        "user.updated",
        subject_type="user",
        subject_id=user.id,
        tenant_id=user.tenant_id,
        actor=actor,
        now=now,
        payload={"before": before, "after": _user_state(user)},
    )
    return user


def set_active(user: User, active: bool, *, actor, now: dt.datetime) -> User:
    """Deactivate (locks out sessions and API tokens) or reactivate a user."""
    if user.id == getattr(actor, "id", None) and not active:
        raise InvalidInput("you cannot deactivate yourself", field="active")
    if user.active != bool(active):
        user.active = bool(active)
        db.session.flush()
        record(
            "user.reactivated" if active else "user.deactivated",
            subject_type="user",
            subject_id=user.id,
            tenant_id=user.tenant_id,
            actor=actor,
            now=now,
            payload={"email": user.email},
        )
    return user


def set_temporary_password(user: User, password: str, *, actor, now: dt.datetime) -> User:
    """Give a user a temporary password to pass on out of band (never ledgered itself).

    Ends the user's sessions; they must choose their own password at the next sign-in."""
    user.set_password(_check_password(password, email=user.email, name=user.name))
    user.must_change_password = True
    user.end_sessions()
    db.session.flush()
    record(
        "user.password_set",
        subject_type="user",
        subject_id=user.id,
        tenant_id=user.tenant_id,
        actor=actor,
        now=now,
        payload={"email": user.email},
    )
    return user
