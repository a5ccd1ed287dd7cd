"""A small world with two tenants for the security sweeps, and helpers that walk ``app.url_map``.

Tenant B ("the other tenant") is created first, so that id 1 of every table that has a row for
it belongs to B (or to provider staff), never to the viewer's tenant A. Sweeps then fill every
integer URL parameter with 1 and every other parameter with B's slug.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from portal.auth.models import User
from portal.auth.services import issue_token
from portal.catalog.models import TeamMembership, Usage
from portal.changes import services as change_services
from portal.changes.inputs import ChangeInput
from portal.extensions import db, limiter
from portal.tenants.models import AccountManagerAssignment
from tests.conftest import T0

PARAM = re.compile(r"<(?:(?P<conv>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")

# Pages anyone may open without signing in (each is public by design).
PUBLIC_ENDPOINTS = {
    "auth.login",  # the sign-in page itself
    "web.healthz",  # load-balancer liveness
    "ops.readyz",  # readiness for load balancers and monitoring (503 when not ready)
    "ops.metrics",  # Prometheus; its own bearer token (METRICS_TOKEN), not a session
    "static",  # CSS and scripts
    "api_spec.openapi_json",  # the API description (DESIGN.md "Interfaces")
    "feeds.public_changes",  # public changes of public services
    "feeds.public_feed",  # public per-service feeds (public changes only)
    "feeds.public_change",  # one public change (404 unless published and public)
    "ledger.public_key",  # the key that signs ledger checkpoints (DESIGN.md "Proof")
    "ledger.all_keys",
    "ledger.latest_checkpoint",
}
# Endpoints authorised by an unguessable token in the URL instead of a session; they are
# exempt from the id sweep (their parameter is a secret, not an id).
TOKEN_ENDPOINTS = {"acks.ack_link", "notify.unsubscribe_link", "feeds.private_feed"}
# Non-API views deliberately exempt from CSRF, with the reason. Any other exemption fails.
CSRF_EXEMPT_VIEWS = {
    # RFC 8058 one-click unsubscribe: mail clients POST without a form; the token authorises.
    "portal.notify.routes.unsubscribe_link",
}
# Answers of 500 and above that are not faults: a readiness check saying "not ready".
NOT_READY = {("ops.readyz", 503)}
ROLES = ["customer", "tenant_admin", "account_manager", "engineer", "admin"]
# Tables whose rows legitimately change on a read (bearer-token "last used" stamps).
VOLATILE_TABLES = {"api_tokens"}


def user(email: str, *, tenant=None, **flags) -> User:
    """A user without a password (hashing one is slow; tests sign in through the session)."""
    row = User(
        email=email,
        name=email.split("@")[0].title(),
        tenant_id=tenant.id if tenant else None,
        **flags,
    )
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def world(app, make_tenant, make_team, make_service, make_usage):
    """Tenant B with a published change, a contact, users and a token; tenant A with one user
    per role (A's objects are created after B's, so id 1 is never A's)."""
    team_b = make_team("team-b")
    service_b = make_service(team_b, "service-b", components=["eu"])
    tenant_b = make_tenant("tenant-b", "Tenant B")
    make_usage(tenant_b, service_b)
    b_admin = user("admin@tenant-b.example", tenant=tenant_b, is_tenant_admin=True)
    b_manager = user("am-b@provider.example", is_account_manager=True)
    db.session.add(AccountManagerAssignment(user_id=b_manager.id, tenant_id=tenant_b.id))
    b_engineer = user("eng-b@provider.example")
    db.session.add(TeamMembership(team_id=team_b.id, user_id=b_engineer.id, is_approver=True))
    db.session.flush()
    issue_token(b_admin, "b pipeline", now=T0, days=30)
    start = T0 + dt.timedelta(days=120)
    change_b = change_services.create_change(
        ChangeInput(
            "Tenant B only change",
            "Only B uses this.",
            "degradation",
            start,
            start + dt.timedelta(hours=2),
            ((service_b.id, None),),
            team_b.id,
        ),
        author=b_engineer,
        now=T0,
    )
    db.session.refresh(b_engineer)
    change_services.publish(change_b, actor=b_engineer, now=T0)

    team_a = make_team("team-a")
    service_a = make_service(team_a, "service-a")
    tenant_a = make_tenant("tenant-a", "Tenant A", contacts=0)
    db.session.add(Usage(tenant_id=tenant_a.id, service_id=service_a.id))
    users = {
        "customer": user("user@tenant-a.example", tenant=tenant_a),
        "tenant_admin": user("admin@tenant-a.example", tenant=tenant_a, is_tenant_admin=True),
        "account_manager": user("am-a@provider.example", is_account_manager=True),
        "engineer": user("eng-a@provider.example"),
        "admin": user("root@provider.example", is_admin=True),
    }
    db.session.add(
        AccountManagerAssignment(user_id=users["account_manager"].id, tenant_id=tenant_a.id)
    )
    db.session.add(TeamMembership(team_id=team_a.id, user_id=users["engineer"].id))
    db.session.commit()
    for u in users.values():
        db.session.refresh(u)
    assert tenant_b.id == 1 and change_b.id == 1 and b_admin.id == 1
    return SimpleNamespace(
        tenant_a=tenant_a, tenant_b=tenant_b, change_b=change_b, users=users, b_admin=b_admin
    )


def rules(app, method: str):
    """Every rule answering ``method``, sorted by path."""
    return sorted(
        (r for r in app.url_map.iter_rules() if method in r.methods), key=lambda r: r.rule
    )


def has_params(rule) -> bool:
    return bool(PARAM.search(rule.rule))


def fill(rule, number: int = 1, text: str = "tenant-b") -> str | None:
    """The rule's path with ints and ids set to ``number``, strings to ``text``; None for paths."""
    if any(m["conv"] == "path" for m in PARAM.finditer(rule.rule)):
        return None
    return PARAM.sub(lambda m: str(number) if m["conv"] in ("int", "id") else text, rule.rule)


def is_api(rule) -> bool:
    return rule.rule.startswith("/api/")


def bearer_for(u: User, *, days=30, now=T0) -> dict:
    _, secret = issue_token(u, "sweep", now=now, days=days)
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def db_fingerprint() -> str:
    """A hash of every row of every table (bar the volatile ones): equal means nothing changed."""
    digest = hashlib.sha256()
    for table in db.metadata.sorted_tables:
        if table.name in VOLATILE_TABLES:
            continue
        rows = db.session.execute(select(table)).all()
        digest.update(table.name.encode())
        digest.update(repr(sorted(map(repr, rows))).encode())
    return digest.hexdigest()


@pytest.fixture
def reset_limiter():
    yield
    limiter.reset()
