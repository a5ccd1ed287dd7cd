"""Customers' tenant admins manage their own tenant's users and notice contacts, nobody else's."""

from sqlalchemy import func, select

from portal.auth.models import User
from portal.extensions import db
from portal.tenants.models import NoticeContact

NEW_PASSWORD = "a-temporary-password-1"


def test_tenant_admin_adds_a_user_to_their_own_tenant(
    login, make_tenant, make_user, ledger_actions
):
    tenant = make_tenant("tapai")
    boss = make_user(tenant=tenant, is_tenant_admin=True)
    db.session.commit()
    client = login(boss)
    assert client.get("/settings/users").status_code == 200
    r = client.post(
        "/settings/users",
        data={"email": "dev@tapai.example", "name": "Dev", "password": NEW_PASSWORD},
    )
    assert r.status_code == 302
    dev = db.session.execute(select(User).where(User.email == "dev@tapai.example")).scalar_one()
    assert dev.tenant_id == tenant.id and not dev.is_tenant_admin
    assert ledger_actions() == ["user.created"]


def test_tenant_admin_cannot_create_staff(login, make_tenant, make_user):
    boss = make_user(tenant=make_tenant("tapai"), is_tenant_admin=True)
    db.session.commit()
    login(boss).post(
        "/settings/users",
        data={
            "email": "sneaky@tapai.example",
            "name": "S",
            "password": NEW_PASSWORD,
            "is_admin": "y",
            "is_account_manager": "y",
        },
    )
    sneaky = db.session.execute(
        select(User).where(User.email == "sneaky@tapai.example")
    ).scalar_one()
    assert sneaky.is_customer and not sneaky.is_admin and not sneaky.is_account_manager


def test_duplicate_and_bad_emails_are_refused(login, make_tenant, make_user, ledger_actions):
    boss = make_user("boss@tapai.example", tenant=make_tenant("tapai"), is_tenant_admin=True)
    db.session.commit()
    client = login(boss)
    dup = client.post(
        "/settings/users",
        data={"email": "boss@tapai.example", "name": "B", "password": NEW_PASSWORD},
    )
    assert dup.status_code == 400 and b"already exists" in dup.data
    bad = client.post(
        "/settings/users", data={"email": "nope", "name": "B", "password": NEW_PASSWORD}
    )
    assert bad.status_code == 400
    assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 1
    assert ledger_actions() == []


def test_tenant_admin_manages_roles_and_access_of_own_users(login, make_tenant, make_user):
    tenant = make_tenant("tapai")
    boss = make_user(tenant=tenant, is_tenant_admin=True)
    dev = make_user(tenant=tenant)
    db.session.commit()
    client = login(boss)
    client.post(f"/settings/users/{dev.id}/tenant-admin", data={"tenant_admin": "1"})
    client.post(f"/settings/users/{dev.id}/active", data={"active": "0"})
    db.session.refresh(dev)
    assert dev.is_tenant_admin and not dev.active
    client.post(f"/settings/users/{boss.id}/tenant-admin", data={"tenant_admin": "0"})
    db.session.refresh(boss)
    assert boss.is_tenant_admin


def test_another_tenants_users_and_contacts_are_404(login, make_tenant, make_user):
    tenant, other = make_tenant("tapai"), make_tenant("ptu")
    boss = make_user(tenant=tenant, is_tenant_admin=True)
    stranger = make_user(tenant=other)
    staff = make_user("eng@provider.example")
    db.session.commit()
    client = login(boss)
    for target in (stranger, staff):
        assert (
            client.post(f"/settings/users/{target.id}/active", data={"active": "0"}).status_code
            == 404
        )
        assert (
            client.post(
                f"/settings/users/{target.id}/tenant-admin", data={"tenant_admin": "1"}
            ).status_code
            == 404
        )
    foreign = other.contacts[0]
    assert client.post(f"/settings/contacts/{foreign.id}/delete").status_code == 404
    db.session.refresh(stranger)
    db.session.refresh(staff)
    assert stranger.active and not stranger.is_tenant_admin and staff.active
    assert db.session.get(NoticeContact, foreign.id) is not None
    assert b"ptu.example" not in client.get("/settings/contacts").data


def test_tenant_admin_manages_own_contacts(login, make_tenant, make_user, ledger_actions):
    tenant = make_tenant("tapai", contacts=0)
    boss = make_user(tenant=tenant, is_tenant_admin=True)
    db.session.commit()
    client = login(boss)
    r = client.post("/settings/contacts", data={"email": "noc@tapai.example", "name": "NOC"})
    assert r.status_code == 302
    dup = client.post("/settings/contacts", data={"email": "NOC@tapai.example"})
    assert dup.status_code == 400 and b"already a notice contact" in dup.data
    bad = client.post("/settings/contacts", data={"email": "x"})
    assert bad.status_code == 400
    contact = db.session.execute(select(NoticeContact)).scalar_one()
    assert contact.tenant_id == tenant.id
    assert client.post(f"/settings/contacts/{contact.id}/delete").status_code == 302
    assert ledger_actions() == ["contact.added", "contact.removed"]


def test_plain_customer_reads_contacts_but_cannot_change_them(login, make_tenant, make_user):
    tenant = make_tenant("tapai")
    user = make_user(tenant=tenant)
    db.session.commit()
    client = login(user)
    page = client.get("/settings/contacts")
    assert page.status_code == 200 and b"ops1@tapai.example" in page.data
    assert client.get("/settings/users").status_code == 403
    r = client.post("/settings/contacts", data={"email": "mine@tapai.example"})
    assert r.status_code == 403
    r = client.post(f"/settings/contacts/{tenant.contacts[0].id}/delete")
    assert r.status_code == 403
    assert len(tenant.contacts) == 1


def test_account_managers_have_no_organisation_page(login, make_user):
    assert login(make_user(is_account_manager=True)).get("/settings/contacts").status_code == 403


def test_admins_use_the_admin_screens_not_the_organisation_page(login, admin):
    assert login(admin).get("/settings/users").status_code == 404
