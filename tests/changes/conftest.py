"""Fixtures for the changes tests: DESIGN.md's story (Face Fusion team, Tapai third-party with a
72 h contract, Ptu first-party) and Bearer-token API clients."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from portal.auth.models import User
from portal.auth.services import issue_token
from portal.catalog.models import TeamMembership
from portal.changes.models import ImpactLevel
from portal.extensions import db
from portal.tenants.models import AccountManagerAssignment
from tests.conftest import T0

HOUR = dt.timedelta(hours=1)


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat()


def api_user(email, *, tenant=None, teams=(), approver=False, manages=(), **flags) -> User:
    """A user who signs in with API tokens only (no password: hashing one is slow)."""
    user = User(
        email=email,
        name=email.split("@")[0].title(),
        tenant_id=tenant.id if tenant else None,
        **flags,
    )
    db.session.add(user)
    db.session.flush()
    db.session.add_all(
        [TeamMembership(team_id=t.id, user_id=user.id, is_approver=approver) for t in teams]
    )
    db.session.add_all([AccountManagerAssignment(user_id=user.id, tenant_id=t.id) for t in manages])
    db.session.flush()
    db.session.refresh(user)
    return user


@pytest.fixture
def story(make_tenant, make_team, make_service, make_usage, make_contract_term):
    """Tapai needs 72 h on Face Fusion API by contract; the degradation policy is 24 h.
    Ana authors, Bo approves, Cy is in another team; Tapai and Ptu have customer users."""
    team = make_team("face-fusion", "Face Fusion")
    other_team = make_team("storage", "Storage")
    service = make_service(team, "face-fusion-api", "Face Fusion API", components=("eu",))
    storage = make_service(other_team, "blob-store", "Blob Store")
    tapai = make_tenant("tapai", "Tapai")
    ptu = make_tenant("ptu", "Ptu", first_party=True)
    bystander = make_tenant("bystander", "Bystander")
    make_usage(tapai, service)
    make_usage(ptu, service)
    make_usage(bystander, storage)
    make_contract_term(tapai, 72, service)
    db.session.get(ImpactLevel, "degradation").notice_seconds = 24 * 3600  # as in DESIGN.md
    ns = SimpleNamespace(
        team=team,
        other_team=other_team,
        service=service,
        storage=storage,
        tapai=tapai,
        ptu=ptu,
        bystander=bystander,
        ana=api_user("ana@provider.example", teams=[team]),
        bo=api_user("bo@provider.example", teams=[team], approver=True),
        cy=api_user("cy@provider.example", teams=[other_team], approver=True),
        tapai_user=api_user("ops@tapai.example", tenant=tapai),
        ptu_user=api_user("ops@ptu.example", tenant=ptu),
        bystander_user=api_user("ops@bystander.example", tenant=bystander),
        manager=api_user("am@provider.example", is_account_manager=True, manages=[ptu]),
    )
    db.session.commit()
    return ns


@pytest.fixture
def bearer(app):
    """``bearer(user)`` → headers with a fresh API token of ``user``."""

    def _bearer(user):
        _, secret = issue_token(user, "pipeline", now=T0, days=None)
        db.session.commit()
        return {"Authorization": f"Bearer {secret}"}

    return _bearer


def change_body(**overrides) -> dict:
    """An API body for a degradation of Face Fusion API starting four days after T0."""
    body = {
        "title": "Upgrade the fusion model",
        "body": "Output resolution changes.",
        "impact": "degradation",
        "services": ["face-fusion-api"],
        "starts_at": iso(T0 + 96 * HOUR),
        "ends_at": iso(T0 + 98 * HOUR),
    }
    body.update(overrides)
    return body
