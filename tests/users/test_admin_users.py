"""Admin screens for user accounts: staff and customer users, roles, deactivation, passwords."""

import pytest
from sqlalchemy import func, select

from portal.auth.models import User
from portal.extensions import db
from tests.factories import PASSWORD

NEW_PASSWORD = "a-temporary-password-1"


def user_by_email(email):
    return db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()


def test_admin_lists_and_filters_users(login, admin, make_user, make_tenant):
    make_user("eng@provider.example", name="Eve Engineer")
    make_user("c@tapai.example", name="Carl Customer", tenant=make_tenant("tapai"))
    db.session.commit()
    client = login(admin)
    everyone = client.get("/admin/users")
    assert everyone.status_code == 200 and b"Eve Engineer" in everyone.data
    staff = client.get("/admin/users?kind=staff")
    assert b"Eve Engineer" in staff.data and b"Carl Customer" not in staff.data
    customers = client.get("/admin/users?kind=customer&q=carl")
    assert b"Carl Customer" in customers.data and b"Eve Engineer" not in customers.data


def test_admin_creates_a_staff_engineer_with_approver_right(
    login, admin, make_team, ledger_actions
):
    team = make_team("face")
    db.session.commit()
    client = login(admin)
    assert client.get("/admin/users/new").status_code == 200
    r = client.post(
        "/admin/users/new",
        data={
            "email": "Eng@Provider.example",
            "name": "Eve",
            "password": NEW_PASSWORD,
            "is_account_manager": "y",
            "teams": [team.id],
            "approver": "y",
        },
    )
    assert r.status_code == 302
    user = user_by_email("eng@provider.example")
    assert user.is_staff and user.is_engineer and user.is_account_manager and not user.is_admin
    assert user.memberships[0].is_approver and user.check_password(NEW_PASSWORD)
    assert ledger_actions() == ["user.created"]
    assert client.get(f"/admin/users/{user.id}").status_code == 200


def test_admin_creates_a_customer_user(login, admin, make_tenant):
    tenant = make_tenant("tapai")
    db.session.commit()
    client = login(admin)
    assert client.get(f"/admin/users/new?kind=customer&tenant={tenant.id}").status_code == 200
    r = client.post(
        "/admin/users/new?kind=customer",
        data={
            "email": "boss@tapai.example",
            "name": "Boss",
            "password": NEW_PASSWORD,
            "tenant": tenant.id,
            "is_tenant_admin": "y",
        },
    )
    assert r.status_code == 302
    user = user_by_email("boss@tapai.example")
    assert user.tenant_id == tenant.id and user.is_tenant_admin and not user.is_admin


def test_user_form_errors_change_nothing(login, admin, make_user, ledger_actions):
    make_user("taken@provider.example")
    db.session.commit()
    client = login(admin)
    base = {"name": "N", "password": NEW_PASSWORD}
    dup = client.post("/admin/users/new", data={**base, "email": "TAKEN@provider.example"})
    assert dup.status_code == 400 and b"already exists" in dup.data
    bad = client.post("/admin/users/new", data={**base, "email": "not an email"})
    assert bad.status_code == 400 and b"Invalid email address." in bad.data
    short = client.post(
        "/admin/users/new", data={**base, "email": "a@b.example", "password": "short"}
    )
    assert short.status_code == 400 and b"between 12 and 200 characters" in short.data
    no_tenant = client.post(
        "/admin/users/new?kind=customer", data={**base, "email": "c@b.example", "tenant": 0}
    )
    assert no_tenant.status_code == 400 and b"choose the user&#39;s tenant" in no_tenant.data
    assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 2
    assert ledger_actions() == []


def test_admin_edits_roles_but_not_their_own_admin_flag(login, admin, make_user, ledger_actions):
    other = make_user("am@provider.example")
    db.session.commit()
    client = login(admin)
    r = client.post(f"/admin/users/{other.id}", data={"name": "Ann", "is_account_manager": "y"})
    assert r.status_code == 302
    db.session.refresh(other)
    assert other.name == "Ann" and other.is_account_manager
    own = client.post(f"/admin/users/{admin.id}", data={"name": "Ada"})
    assert own.status_code == 400 and b"cannot remove your own admin role" in own.data
    db.session.refresh(admin)
    assert admin.is_admin
    assert ledger_actions() == ["user.updated"]


def test_deactivation_locks_the_user_out(login, admin, make_user, client, ledger_actions):
    user = make_user("gone@provider.example")
    db.session.commit()
    login(admin).post(f"/admin/users/{user.id}/active", data={"active": "0"})
    db.session.refresh(user)
    assert user.active is False
    self_off = client.post(f"/admin/users/{admin.id}/active", data={"active": "0"})
    assert self_off.status_code == 302
    db.session.refresh(admin)
    assert admin.active
    client.post("/logout")
    r = client.post("/login", data={"email": "gone@provider.example", "password": PASSWORD})
    assert r.status_code == 400
    assert ledger_actions() == ["user.deactivated"]


def test_admin_sets_a_temporary_password(login, admin, make_user, ledger_actions):
    user = make_user()
    db.session.commit()
    client = login(admin)
    short = client.post(f"/admin/users/{user.id}/password", data={"password": "short"})
    assert short.status_code == 400
    r = client.post(f"/admin/users/{user.id}/password", data={"password": NEW_PASSWORD})
    assert r.status_code == 302
    db.session.refresh(user)
    assert user.check_password(NEW_PASSWORD)
    assert ledger_actions() == ["user.password_set"]


def test_unknown_user_is_404(login, admin):
    assert login(admin).get("/admin/users/999999").status_code == 404


@pytest.mark.parametrize("role", ["tenant_admin", "account_manager"])
def test_only_admins_manage_users(role, login, make_user, make_tenant):
    target = make_user("t@provider.example")
    if role == "tenant_admin":
        user = make_user(tenant=make_tenant(), is_tenant_admin=True)
    else:
        user = make_user(is_account_manager=True)
    db.session.commit()
    client = login(user)
    assert client.get("/admin/users").status_code == 403
    r = client.post(f"/admin/users/{target.id}", data={"name": "Hacked", "is_admin": "y"})
    assert r.status_code == 403
    r = client.post(f"/admin/users/{user.id}", data={"name": "Me", "is_admin": "y"})
    assert r.status_code == 403
    db.session.refresh(user)
    db.session.refresh(target)
    assert not user.is_admin and target.name != "Hacked"
