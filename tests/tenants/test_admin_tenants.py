"""Admin screens for tenants: create and edit, notice contacts, usage, account managers."""

import pytest
from sqlalchemy import func, select

from portal.catalog.models import Usage
from portal.extensions import db
from portal.tenants.models import AccountManagerAssignment, NoticeContact, Tenant


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_admin_lists_and_searches_tenants(login, admin, make_tenant):
    make_tenant("tapai", "Tapai")
    make_tenant("ptu", "Ptu", first_party=True)
    db.session.commit()
    client = login(admin)
    listing = client.get("/admin/tenants")
    assert listing.status_code == 200 and b"Tapai" in listing.data and b"Ptu" in listing.data
    found = client.get("/admin/tenants?q=tap")
    assert b"Tapai" in found.data and b"Ptu" not in found.data
    # LIKE wildcards in the query are taken literally
    assert b"Tapai" not in client.get("/admin/tenants?q=%25").data


def test_admin_creates_a_tenant_and_it_is_ledgered(login, admin, ledger_actions):
    client = login(admin)
    assert client.get("/admin/tenants/new").status_code == 200
    r = client.post(
        "/admin/tenants/new",
        data={"slug": "tapai", "name": "Tapai", "time_zone": "Asia/Taipei", "first_party": ""},
    )
    assert r.status_code == 302
    tenant = db.session.execute(select(Tenant).where(Tenant.slug == "tapai")).scalar_one()
    assert tenant.time_zone == "Asia/Taipei" and tenant.first_party is False
    assert ledger_actions() == ["tenant.created"]
    assert client.get(f"/admin/tenants/{tenant.id}").status_code == 200


def test_duplicate_slug_is_refused_on_the_form(login, admin, make_tenant, ledger_actions):
    make_tenant("tapai")
    db.session.commit()
    r = login(admin).post(
        "/admin/tenants/new", data={"slug": "tapai", "name": "Other", "time_zone": "UTC"}
    )
    assert r.status_code == 400 and b"already used by another tenant" in r.data
    assert count(Tenant) == 1 and ledger_actions() == []


def test_bad_slug_and_unknown_zone_are_refused(login, admin, ledger_actions):
    client = login(admin)
    r = client.post(
        "/admin/tenants/new", data={"slug": "Not A Slug", "name": "X", "time_zone": "UTC"}
    )
    assert r.status_code == 400 and b"not a valid slug" in r.data
    r = client.post(
        "/admin/tenants/new", data={"slug": "x", "name": "X", "time_zone": "Mars/Olympus"}
    )
    assert r.status_code == 400 and b"unknown time zone" in r.data
    r = client.post("/admin/tenants/new", data={"slug": "x", "name": "", "time_zone": "UTC"})
    assert r.status_code == 400 and b"This field is required." in r.data
    assert count(Tenant) == 0 and ledger_actions() == []


def test_admin_edits_a_tenant(login, admin, make_tenant, ledger_actions):
    tenant = make_tenant("tapai")
    other = make_tenant("ptu")
    db.session.commit()
    client = login(admin)
    assert client.get(f"/admin/tenants/{tenant.id}/edit").status_code == 200
    clash = client.post(
        f"/admin/tenants/{tenant.id}/edit",
        data={"slug": other.slug, "name": "T", "time_zone": "UTC"},
    )
    assert clash.status_code == 400 and b"already used" in clash.data
    ok = client.post(
        f"/admin/tenants/{tenant.id}/edit",
        data={
            "slug": "tapai-inc",
            "name": "Tapai Inc",
            "time_zone": "Europe/Berlin",
            "first_party": "y",
        },
    )
    assert ok.status_code == 302
    db.session.refresh(tenant)
    assert (tenant.slug, tenant.name, tenant.first_party) == ("tapai-inc", "Tapai Inc", True)
    assert ledger_actions() == ["tenant.updated"]


def test_unknown_tenant_is_404(login, admin):
    assert login(admin).get("/admin/tenants/999999").status_code == 404


def test_contacts_are_added_validated_and_removed(login, admin, make_tenant, ledger_actions):
    tenant = make_tenant("tapai", contacts=0)
    db.session.commit()
    client = login(admin)
    r = client.post(
        f"/admin/tenants/{tenant.id}/contacts", data={"email": "Ops@Tapai.example", "name": "Ops"}
    )
    assert r.status_code == 302
    contact = db.session.execute(select(NoticeContact)).scalar_one()
    assert contact.email == "ops@tapai.example"
    dup = client.post(f"/admin/tenants/{tenant.id}/contacts", data={"email": "ops@tapai.example"})
    assert dup.status_code == 400 and b"already a notice contact" in dup.data
    bad = client.post(f"/admin/tenants/{tenant.id}/contacts", data={"email": "not-an-email"})
    assert bad.status_code == 400 and count(NoticeContact) == 1
    r = client.post(f"/admin/tenants/{tenant.id}/contacts/{contact.id}/delete")
    assert r.status_code == 302 and count(NoticeContact) == 0
    assert ledger_actions() == ["contact.added", "contact.removed"]


def test_contact_of_another_tenant_cannot_be_removed_through_this_one(login, admin, make_tenant):
    tenant, other = make_tenant("tapai"), make_tenant("ptu")
    db.session.commit()
    foreign = other.contacts[0]
    r = login(admin).post(f"/admin/tenants/{tenant.id}/contacts/{foreign.id}/delete")
    assert r.status_code == 404 and db.session.get(NoticeContact, foreign.id) is not None


def test_usage_of_a_service_or_component(login, admin, make_tenant, make_service, ledger_actions):
    tenant = make_tenant("tapai")
    service = make_service(slug="face-fusion", components=["eu-west"])
    db.session.commit()
    component = service.components[0]
    client = login(admin)
    assert client.get(f"/admin/tenants/{tenant.id}").status_code == 200
    assert (
        client.post(
            f"/admin/tenants/{tenant.id}/usage", data={"target": f"s{service.id}"}
        ).status_code
        == 302
    )
    assert (
        client.post(
            f"/admin/tenants/{tenant.id}/usage", data={"target": f"c{component.id}"}
        ).status_code
        == 302
    )
    dup = client.post(f"/admin/tenants/{tenant.id}/usage", data={"target": f"s{service.id}"})
    assert dup.status_code == 400 and b"already uses" in dup.data
    junk = client.post(f"/admin/tenants/{tenant.id}/usage", data={"target": "s999999"})
    assert junk.status_code == 400 and b"choose a service" in junk.data
    assert count(Usage) == 2
    usage = db.session.execute(select(Usage).where(Usage.component_id.is_(None))).scalar_one()
    assert client.post(f"/admin/tenants/{tenant.id}/usage/{usage.id}/delete").status_code == 302
    assert count(Usage) == 1
    assert ledger_actions() == ["usage.added", "usage.added", "usage.removed"]


def test_account_manager_assignment(login, admin, make_tenant, make_user, ledger_actions):
    tenant = make_tenant("tapai")
    manager = make_user("am@provider.example", is_account_manager=True)
    engineer = make_user("eng@provider.example")
    db.session.commit()
    client = login(admin)
    page = client.get(f"/admin/tenants/{tenant.id}")
    assert b"am@provider.example" in page.data
    not_am = client.post(f"/admin/tenants/{tenant.id}/managers", data={"user": engineer.id})
    assert not_am.status_code == 400 and b"not an active account manager" in not_am.data
    assert (
        client.post(f"/admin/tenants/{tenant.id}/managers", data={"user": manager.id}).status_code
        == 302
    )
    again = client.post(f"/admin/tenants/{tenant.id}/managers", data={"user": manager.id})
    assert again.status_code == 400 and b"already manages" in again.data
    assignment = db.session.execute(select(AccountManagerAssignment)).scalar_one()
    r = client.post(f"/admin/tenants/{tenant.id}/managers/{assignment.id}/delete")
    assert r.status_code == 302 and count(AccountManagerAssignment) == 0
    assert ledger_actions() == ["account_manager.assigned", "account_manager.unassigned"]


@pytest.mark.parametrize("role", ["tenant_admin", "account_manager", "engineer"])
def test_non_admins_cannot_use_tenant_admin_screens(role, login, make_tenant, make_user, make_team):
    tenant = make_tenant("tapai")
    user = {
        "tenant_admin": lambda: make_user(tenant=tenant, is_tenant_admin=True),
        "account_manager": lambda: make_user(is_account_manager=True, manages=[tenant]),
        "engineer": lambda: make_user(teams=[make_team()], approver=True),
    }[role]()
    db.session.commit()
    client = login(user)
    assert client.get("/admin/tenants").status_code == 403
    assert client.get(f"/admin/tenants/{tenant.id}").status_code == 403
    r = client.post("/admin/tenants/new", data={"slug": "x", "name": "X", "time_zone": "UTC"})
    assert r.status_code == 403
    assert db.session.execute(select(func.count()).select_from(Tenant)).scalar_one() == 1


def test_an_internationalised_contact_is_accepted_with_a_warning(login, admin, make_tenant):
    tenant = make_tenant("tapai", contacts=0)
    db.session.commit()
    client = login(admin)
    r = client.post(
        f"/admin/tenants/{tenant.id}/contacts",
        data={"email": "用户@例子.广告", "name": "Ops"},
        follow_redirects=True,
    )
    assert r.status_code == 200 and count(NoticeContact) == 1
    page = r.get_data(as_text=True)
    assert "internationalised address" in page and "SMTPUTF8" in page
    plain = client.post(
        f"/admin/tenants/{tenant.id}/contacts",
        data={"email": "ops@bücher.example"},
        follow_redirects=True,
    )
    assert "SMTPUTF8" not in plain.get_data(as_text=True)
