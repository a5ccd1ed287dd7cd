"""Every list page and list endpoint runs the same number of SQL statements for 3 rows as for
40 (issue 20): what its rows show is loaded eagerly or aggregated, never one query per row.

Each case names a page, who looks at it, and a seeder that adds rows ``start..stop`` to the
list. The rows differ in everything a row shows (team, author, services, tenant, token …), so
a per-row lazy load cannot hide behind the session's identity map. A new list page is one more
line in ``PAGES``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from portal.auth.models import User
from portal.auth.services import issue_token
from portal.catalog.models import TeamMembership
from portal.changes.defaults import DEFAULT_IMPACT_LEVELS
from portal.changes.models import BlackoutWindow, ChangeTarget, ChangeTenant
from portal.extensions import db
from portal.feeds.models import FeedReceipt, FeedToken
from portal.mailbox.services import store_caught_mail
from portal.notify.models import FAILED, NOTICE, OutboxMessage
from portal.tenants.models import AccountManagerAssignment, Tenant
from tests import factories
from tests.conftest import T0
from tests.statements import count_statements

SMALL, LARGE = 3, 40
IMPACTS = [level["code"] for level in DEFAULT_IMPACT_LEVELS]


@pytest.fixture
def app_config(app_config):
    """Demo mode, so that the mailbox exists (it is a list page too); token caps above the
    40 rows the large case lists."""
    return {
        **app_config,
        "DEMO": True,
        "API_TOKEN_MAX_PER_USER": 100,
        "FEED_TOKEN_MAX_PER_TENANT": 100,
    }


@dataclass
class World:
    """Ids of the viewers and of the tenant the customer and the account manager look at
    (ids: a request starts from an empty session, which detaches loaded objects)."""

    admin: int
    engineer: int
    manager: int
    customer: int
    tenant: int
    tokens: dict


def _user(email: str, *, tenant_id=None, teams=(), approver=False, **flags) -> User:
    """A user without a password (hashing one costs more than the whole request measured);
    tests sign in through the session."""
    user = User(email=email, name=email.split("@")[0].title(), tenant_id=tenant_id, **flags)
    db.session.add(user)
    db.session.flush()
    for team in teams:
        db.session.add(TeamMembership(team_id=team.id, user_id=user.id, is_approver=approver))
    return user


def _team_with_service(i: int):
    team = factories.make_team(f"team-{i}")
    service = factories.make_service(team, f"service-{i}", components=(f"eu-{i}",))
    return team, service


def seed_changes(world: World, start: int, stop: int, visibility: str = "affected") -> None:
    """Published changes affecting the world's tenant, each of its own team, author, service
    and component, impact levels in turn."""
    for i in range(start, stop):
        team, service = _team_with_service(i)
        db.session.add(TeamMembership(team_id=team.id, user_id=world.engineer))
        author = _user(f"author{i}@provider.example", teams=[team])
        starts = T0 + dt.timedelta(days=10 + i)
        change = factories.make_change(
            services=[],
            team=team,
            author=author,
            title=f"Change {i}",
            impact=IMPACTS[i % len(IMPACTS)],
            starts_at=starts,
            status="scheduled",
            visibility=visibility,
        )
        change.published_at = T0
        change.revision_number = change.material_revision_number = 1
        db.session.add_all(
            [
                ChangeTarget(
                    change_id=change.id,
                    service_id=service.id,
                    component_id=service.components[0].id,
                ),
                ChangeTenant(
                    change_id=change.id,
                    tenant_id=world.tenant,
                    required_notice_seconds=86400,
                    notice_given_at=T0,
                ),
            ]
        )
    db.session.flush()


def seed_public_changes(world: World, start: int, stop: int) -> None:
    seed_changes(world, start, stop, visibility="public")


def seed_tenants(world: World, start: int, stop: int) -> None:
    for i in range(start, stop):
        factories.make_tenant(f"listed-{i}", contacts=2)


def seed_users(world: World, start: int, stop: int) -> None:
    """Customer users of their own tenants and engineers of their own teams, in turn."""
    for i in range(start, stop):
        if i % 2:
            team = factories.make_team(f"crew-{i}")
            _user(f"engineer{i}@provider.example", teams=[team], approver=True)
        else:
            tenant = factories.make_tenant(f"org-{i}", contacts=0)
            _user(f"user{i}@org-{i}.example", tenant_id=tenant.id)


def seed_services(world: World, start: int, stop: int) -> None:
    for i in range(start, stop):
        _team_with_service(i)


def seed_teams(world: World, start: int, stop: int) -> None:
    for i in range(start, stop):
        team, _service = _team_with_service(i)
        _user(f"member{i}@provider.example", teams=[team])


def seed_failed_deliveries(world: World, start: int, stop: int) -> None:
    """A failed notice per tenant of the account manager, each about a change of its own."""
    for i in range(start, stop):
        tenant = factories.make_tenant(f"failing-{i}", contacts=1)
        db.session.add(AccountManagerAssignment(user_id=world.manager, tenant_id=tenant.id))
        _team, service = _team_with_service(i)
        change = factories.make_change(
            services=[service],
            author=db.session.get(User, world.engineer),
            starts_at=T0 + dt.timedelta(days=10),
        )
        db.session.add(
            OutboxMessage(
                change_id=change.id,
                revision_number=1,
                tenant_id=tenant.id,
                recipient=f"ops1@failing-{i}.example",
                kind=NOTICE,
                status=FAILED,
                attempts=5,
                due_at=T0,
                failed_at=T0 + dt.timedelta(minutes=i),
                last_error="550 5.1.1 mailbox unavailable",
            )
        )
    db.session.flush()


def seed_feed_tokens(world: World, start: int, stop: int) -> None:
    """Feed tokens of the world's tenant, each with a receipt of its own."""
    for i in range(start, stop):
        token = FeedToken(
            tenant_id=world.tenant, name=f"reader {i}", token_hash=f"{i:064x}", prefix=f"p{i}"
        )
        db.session.add(token)
        db.session.flush()
        db.session.add(
            FeedReceipt(
                token_id=token.id,
                tenant_id=world.tenant,
                formats="rss",
                first_fetched_at=T0,
                last_fetched_at=T0 + dt.timedelta(minutes=i),
                etag=f"{i:032x}",
                revisions="[[1, 1]]",
            )
        )
    db.session.flush()


def seed_org_users(world: World, start: int, stop: int) -> None:
    for i in range(start, stop):
        _user(f"colleague{i}@customer.example", tenant_id=world.tenant)


def seed_contacts(world: World, start: int, stop: int) -> None:
    tenant = db.session.get(Tenant, world.tenant)
    for i in range(start, stop):
        factories.make_contact(tenant, f"notices{i}@customer.example", f"Notices {i}")


def seed_api_tokens(world: World, start: int, stop: int) -> None:
    engineer = db.session.get(User, world.engineer)
    for i in range(start, stop):
        issue_token(engineer, f"pipeline {i}", now=T0, days=30)


def seed_blackouts(world: World, start: int, stop: int) -> None:
    for i in range(start, stop):
        begins = T0 + dt.timedelta(days=30 + i)
        db.session.add(
            BlackoutWindow(
                tenant_id=world.tenant,
                starts_at=begins,
                ends_at=begins + dt.timedelta(hours=6),
                reason=f"launch {i}",
                created_by_id=world.customer,
            )
        )
    db.session.flush()


def seed_mail(world: World, start: int, stop: int) -> None:
    for i in range(start, stop):
        raw = f"From: portal@provider.example\r\nSubject: Notice {i}\r\n\r\nBody\r\n".encode()
        store_caught_mail(
            mail_from="portal@provider.example",
            rcpt_tos=[f"ops{i}@customer.example", f"ops{i}b@customer.example"],
            raw=raw,
            now=T0 + dt.timedelta(minutes=i),
        )


@dataclass(frozen=True)
class ListPage:
    """One list: its URL, who looks at it, the rows it lists, and whether through the API."""

    url: str
    viewer: str
    seed: Callable[[World, int, int], None]
    api: bool = False

    def __str__(self) -> str:
        return f"{self.url} as {self.viewer}"


PAGES = [
    ListPage("/changes?when=all", "engineer", seed_changes),
    ListPage("/changes?when=all", "admin", seed_changes),
    ListPage("/changes?when=all", "manager", seed_changes),
    ListPage("/changes", "customer", seed_changes),
    ListPage("/api/v1/changes", "engineer", seed_changes, api=True),
    ListPage("/api/v1/changes", "customer", seed_changes, api=True),
    ListPage("/desk/", "manager", seed_changes),
    ListPage("/api/v1/desk/changes", "manager", seed_changes, api=True),
    ListPage("/admin/tenants", "admin", seed_tenants),
    ListPage("/admin/users", "admin", seed_users),
    ListPage("/admin/services", "admin", seed_services),
    ListPage("/admin/teams", "admin", seed_teams),
    ListPage("/deliveries/failed", "manager", seed_failed_deliveries),
    ListPage("/feeds", "customer", seed_feed_tokens),
    ListPage("/mailbox/", "admin", seed_mail),
    ListPage("/desk/tenants", "manager", seed_failed_deliveries),
    ListPage("/api/v1/desk/tenants", "manager", seed_failed_deliveries, api=True),
    ListPage("/desk/tenants/customer", "manager", seed_changes),
    ListPage("/public/changes", "anonymous", seed_public_changes),
    ListPage("/settings/users", "customer", seed_org_users),
    ListPage("/settings/contacts", "customer", seed_contacts),
    ListPage("/settings/blackouts", "customer", seed_blackouts),
    ListPage("/tokens", "engineer", seed_api_tokens),
]


@pytest.fixture
def world(app):
    tenant = factories.make_tenant("customer", contacts=1)
    people = {
        "admin": _user("admin@provider.example", is_admin=True),
        "engineer": _user("engineer@provider.example"),
        "manager": _user("am@provider.example", is_account_manager=True),
        "customer": _user("ops@customer.example", tenant_id=tenant.id, is_tenant_admin=True),
    }
    db.session.add(AccountManagerAssignment(user_id=people["manager"].id, tenant_id=tenant.id))
    tokens = {role: issue_token(u, "list test", now=T0, days=None)[1] for role, u in people.items()}
    db.session.commit()
    return World(tenant=tenant.id, tokens=tokens, **{role: u.id for role, u in people.items()})


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_list_runs_as_many_statements_for_40_rows_as_for_3(page, client, login, world):
    headers = {}
    if page.api:
        headers = {"Authorization": f"Bearer {world.tokens[page.viewer]}"}
    elif page.viewer != "anonymous":
        login(db.session.get(User, getattr(world, page.viewer)))

    def request():
        response = client.get(page.url, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        return response

    counts, shown = [], []
    for start, stop in ((0, SMALL), (SMALL, LARGE)):
        page.seed(world, start, stop)
        db.session.commit()
        request()  # a first use may write once (an API token's last use, say): not counted
        seen = []
        n, response = count_statements(request, seen)
        counts.append(n)
        shown.append(response.get_data(as_text=True))
        statements = seen
    # The rows are really listed: the large page shows rows the small one did not.
    assert shown[0] != shown[1]
    assert counts[0] == counts[1], (
        f"{page}: {counts[0]} statements for {SMALL} rows, {counts[1]} for {LARGE}:\n"
        + "\n".join(s.split("\n")[0][:160] for s in statements)
    )
