"""Admin screens for platform teams (members, approver right) and services (components)."""

import pytest
from sqlalchemy import func, select

from portal.catalog.models import Component, PlatformTeam, Service, TeamMembership
from portal.extensions import db


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_admin_creates_and_renames_a_team(login, admin, ledger_actions):
    client = login(admin)
    assert client.get("/admin/teams").status_code == 200
    assert client.get("/admin/teams/new").status_code == 200
    r = client.post("/admin/teams/new", data={"slug": "face", "name": "Face team"})
    assert r.status_code == 302
    team = db.session.execute(select(PlatformTeam)).scalar_one()
    r = client.post(f"/admin/teams/{team.id}", data={"slug": "face", "name": "Face Fusion team"})
    assert r.status_code == 302
    db.session.refresh(team)
    assert team.name == "Face Fusion team"
    assert b"Face Fusion team" in client.get("/admin/teams").data
    assert ledger_actions() == ["team.created", "team.updated"]


def test_team_form_errors(login, admin, make_team, ledger_actions):
    make_team("face")
    db.session.commit()
    client = login(admin)
    dup = client.post("/admin/teams/new", data={"slug": "face", "name": "Again"})
    assert dup.status_code == 400 and b"already used by another team" in dup.data
    bad = client.post("/admin/teams/new", data={"slug": "-bad-", "name": "Bad"})
    assert bad.status_code == 400 and b"not a valid slug" in bad.data
    assert count(PlatformTeam) == 1 and ledger_actions() == []


def test_members_and_the_approver_right(
    login, admin, make_team, make_user, make_tenant, ledger_actions
):
    team = make_team("face")
    engineer = make_user("eng@provider.example")
    customer = make_user("c@tapai.example", tenant=make_tenant("tapai"))
    db.session.commit()
    client = login(admin)
    page = client.get(f"/admin/teams/{team.id}")
    assert b"eng@provider.example" in page.data and b"c@tapai.example" not in page.data
    refused = client.post(f"/admin/teams/{team.id}/members", data={"user": customer.id})
    assert refused.status_code == 400 and b"only provider staff" in refused.data
    none = client.post(f"/admin/teams/{team.id}/members", data={"user": 0})
    assert none.status_code == 400 and b"choose an engineer" in none.data
    assert (
        client.post(f"/admin/teams/{team.id}/members", data={"user": engineer.id}).status_code
        == 302
    )
    dup = client.post(f"/admin/teams/{team.id}/members", data={"user": engineer.id})
    assert dup.status_code == 400 and b"already a member" in dup.data
    membership = db.session.execute(select(TeamMembership)).scalar_one()
    assert membership.is_approver is False and engineer.is_engineer
    client.post(f"/admin/teams/{team.id}/members/{membership.id}/approver", data={"approver": "1"})
    db.session.refresh(membership)
    assert membership.is_approver is True
    r = client.post(f"/admin/teams/{team.id}/members/{membership.id}/delete")
    assert r.status_code == 302 and count(TeamMembership) == 0
    assert ledger_actions() == ["team.member_added", "team.approver_set", "team.member_removed"]


def test_membership_of_another_team_is_404(login, admin, make_team, make_user):
    team, other = make_team(), make_team()
    make_user(teams=[other])
    db.session.commit()
    membership = db.session.execute(select(TeamMembership)).scalar_one()
    r = login(admin).post(f"/admin/teams/{team.id}/members/{membership.id}/delete")
    assert r.status_code == 404 and count(TeamMembership) == 1


def test_admin_creates_and_edits_a_service(login, admin, make_team, ledger_actions):
    team = make_team("face")
    other_team = make_team("vision")
    db.session.commit()
    client = login(admin)
    assert client.get("/admin/services/new").status_code == 200
    r = client.post(
        "/admin/services/new",
        data={
            "slug": "face-fusion",
            "name": "Face Fusion API",
            "team": team.id,
            "description": "Fuses faces.",
        },
    )
    assert r.status_code == 302
    service = db.session.execute(select(Service)).scalar_one()
    assert service.team_id == team.id
    r = client.post(
        f"/admin/services/{service.id}",
        data={"slug": "face-fusion", "name": "Face Fusion API", "team": other_team.id},
    )
    assert r.status_code == 302
    db.session.refresh(service)
    assert service.team_id == other_team.id
    assert b"Face Fusion API" in client.get("/admin/services").data
    assert ledger_actions() == ["service.created", "service.updated"]


def test_service_form_errors(login, admin, make_service, ledger_actions):
    make_service(slug="face-fusion")
    db.session.commit()
    client = login(admin)
    no_team = client.post("/admin/services/new", data={"slug": "new", "name": "New", "team": 0})
    assert no_team.status_code == 400 and b"choose the team" in no_team.data
    team_id = db.session.execute(select(PlatformTeam.id)).scalar_one()
    dup = client.post(
        "/admin/services/new", data={"slug": "face-fusion", "name": "Dup", "team": team_id}
    )
    assert dup.status_code == 400 and b"already used by another service" in dup.data
    assert count(Service) == 1 and ledger_actions() == []


def test_components_are_added_and_removed(login, admin, make_service, ledger_actions):
    service = make_service(slug="face-fusion")
    db.session.commit()
    client = login(admin)
    url = f"/admin/services/{service.id}/components"
    assert client.post(url, data={"slug": "eu-west", "name": "EU West"}).status_code == 302
    dup = client.post(url, data={"slug": "eu-west", "name": "Again"})
    assert dup.status_code == 400 and b"already has a component" in dup.data
    component = db.session.execute(select(Component)).scalar_one()
    assert b"EU West" in client.get(f"/admin/services/{service.id}").data
    r = client.post(f"{url}/{component.id}/delete")
    assert r.status_code == 302 and count(Component) == 0
    assert ledger_actions() == ["component.added", "component.removed"]


def test_component_of_another_service_is_404(login, admin, make_service):
    service = make_service()
    other = make_service(components=["eu"])
    db.session.commit()
    component = other.components[0]
    r = login(admin).post(f"/admin/services/{service.id}/components/{component.id}/delete")
    assert r.status_code == 404 and count(Component) == 1


@pytest.mark.parametrize("role", ["engineer", "tenant_admin"])
def test_engineers_and_customers_cannot_manage_the_catalog(
    role, login, make_team, make_user, make_tenant
):
    team = make_team("face")
    if role == "engineer":
        user = make_user(teams=[team], approver=True)
    else:
        user = make_user(tenant=make_tenant(), is_tenant_admin=True)
    db.session.commit()
    client = login(user)
    for path in ("/admin/teams", "/admin/services", f"/admin/teams/{team.id}"):
        assert client.get(path).status_code == 403
    assert client.post("/admin/teams/new", data={"slug": "x", "name": "X"}).status_code == 403
    assert count(PlatformTeam) == 1
