"""Fixtures for the acks tests: published changes with their notice rows, and the cast of
DESIGN.md's story (Tapai, third-party; Ptu, first-party; their users and account managers)."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest

from portal.changes.models import ChangeTenant, Revision
from portal.extensions import db
from tests.conftest import T0

HOUR = 3600


def publish_rows(change, tenants, *, at=T0, notice_hours=72, delivered_at=None):
    """Mark a draft change published at ``at`` with one notice row per tenant (revision 1)."""
    change.status = "scheduled"
    change.revision_number = change.material_revision_number = 1
    change.published_at = at
    db.session.add(
        Revision(
            change_id=change.id,
            number=1,
            kind="publish",
            material=True,
            summary="published",
            snapshot="{}",
            author_id=change.author_id,
            created_at=at,
        )
    )
    for tenant in tenants:
        db.session.add(
            ChangeTenant(
                change_id=change.id,
                tenant_id=tenant.id,
                required_notice_seconds=notice_hours * HOUR,
                notice_basis=json.dumps(
                    [{"source": "policy", "impact": change.impact, "seconds": notice_hours * HOUR}]
                ),
                clock_revision=1,
                notice_given_at=delivered_at,
                active=True,
            )
        )
    db.session.flush()
    return change


def revise_materially(change, *, at):
    """A material revision: every notice row's clock restarts at the new revision."""
    number = change.revision_number + 1
    change.revision_number = change.material_revision_number = number
    db.session.add(
        Revision(
            change_id=change.id,
            number=number,
            kind="update",
            material=True,
            summary="start moved earlier",
            snapshot="{}",
            author_id=change.author_id,
            created_at=at,
        )
    )
    for ct in db.session.query(ChangeTenant).filter_by(change_id=change.id):
        ct.clock_revision, ct.notice_given_at, ct.waived_at = number, None, None
    db.session.flush()
    return number


def person(email, name, *, tenant=None, teams=(), manages=(), **flags):
    """A user without a password (hashing one is slow; tests sign in through the session)."""
    from portal.auth.models import User
    from portal.catalog.models import TeamMembership
    from portal.tenants.models import AccountManagerAssignment

    user = User(email=email, name=name, tenant_id=tenant.id if tenant else None, **flags)
    db.session.add(user)
    db.session.flush()
    db.session.add_all([TeamMembership(team_id=t.id, user_id=user.id) for t in teams])
    db.session.add_all([AccountManagerAssignment(user_id=user.id, tenant_id=t.id) for t in manages])
    db.session.flush()
    db.session.refresh(user)
    return user


@pytest.fixture
def story(make_tenant, make_team, make_service, make_usage, make_change):
    """Tapai (third-party) and Ptu (first-party) use Face Fusion API; a change is published."""
    team = make_team("face-fusion", "Face Fusion")
    service = make_service(team, "face-fusion-api", "Face Fusion API")
    tapai = make_tenant("tapai", "Tapai", contacts=2)
    ptu = make_tenant("ptu", "Ptu", first_party=True)
    other = make_tenant("other", "Other Co")
    for t in (tapai, ptu, other):
        make_usage(t, service)
    engineer = person("eng@provider.example", "Erin Engineer", teams=[team])
    change = make_change(services=[service], author=engineer, starts_at=T0 + dt.timedelta(days=4))
    publish_rows(change, [tapai, ptu])
    cast = SimpleNamespace(
        team=team,
        service=service,
        tapai=tapai,
        ptu=ptu,
        other=other,
        engineer=engineer,
        change=change,
        tapai_user=person("tom@tapai.example", "Tom Tapai", tenant=tapai),
        tapai_admin=person("ann@tapai.example", "Ann Admin", tenant=tapai, is_tenant_admin=True),
        ptu_user=person("pat@ptu.example", "Pat Ptu", tenant=ptu),
        other_user=person("olga@other.example", "Olga Other", tenant=other),
        am=person("am@provider.example", "Amy Manager", is_account_manager=True, manages=[tapai]),
        other_am=person(
            "am2@provider.example", "Bob Manager", is_account_manager=True, manages=[other]
        ),
    )
    db.session.commit()  # views roll back on refusals: the cast must survive that
    return cast


def db_state() -> dict:
    """Everything an answer to a notice may change: row counts, the ledger head and each
    notice row's waiver. Tests of refusals assert it is the same before and after."""
    from sqlalchemy import func, select

    from portal.acks.models import Acknowledgement, Objection, Waiver
    from portal.ledger.models import LedgerEntry

    db.session.expire_all()
    counts = {
        model.__tablename__: db.session.execute(
            select(func.count()).select_from(model)
        ).scalar_one()
        for model in (Acknowledgement, Objection, Waiver, LedgerEntry)
    }
    answered = db.session.execute(select(Objection.id, Objection.answered_at)).all()
    waived = db.session.execute(
        select(ChangeTenant.id, ChangeTenant.waived_at).order_by(ChangeTenant.id)
    ).all()
    return {
        **counts,
        "answered": sorted(map(tuple, answered)),
        "waived": [tuple(r) for r in waived],
    }


def csrf_token_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    import re

    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def login(login, app):
    """The shared ``login``, safe for several requests and users in one test: pytest-flask
    keeps one app context for the whole test, so Flask-Login's per-request user cache
    (``g._login_user``) would outlive a request; production gets a fresh one per request."""
    from flask import g

    def forget_cached_user() -> None:
        g.pop("_login_user", None)

    app.before_request_funcs.setdefault(None, []).insert(0, forget_cached_user)
    return login
