"""The demo provider: believable, complete for every role, told through the real services,
and idempotent (seeding twice changes nothing)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from portal.auth.models import User
from portal.catalog.models import PlatformTeam, Service, TeamMembership
from portal.changes.models import Change, ChangeTenant, EmergencyRequest, NoticeBreach
from portal.demo.data import CUSTOMERS, STAFF
from portal.demo.seed import seed_demo
from portal.demo.story import STORY
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.ledger.services import verify
from portal.notify.dispatch import dispatch_due
from portal.notify.models import OutboxMessage
from portal.tenants.models import AccountManagerAssignment, ContractTerm, Tenant
from tests.conftest import T0
from tests.notify.conftest import SmtpServer

PASSWORD = "forewarn-demo"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def by_title(title: str) -> Change:
    return db.session.execute(select(Change).where(Change.title == title)).scalar_one()


def test_seed_creates_a_believable_provider(app):
    with app.app_context():
        world = seed_demo(password=PASSWORD, now=T0)
        db.session.commit()
        assert count(PlatformTeam) >= 4 and count(Service) == 8
        assert 55 <= count(Tenant) <= 65
        assert db.session.scalar(select(func.count()).where(Tenant.first_party.is_(True))) >= 2
        assert world.tenants["ptu"].first_party and not world.tenants["tapai"].first_party
        term = db.session.execute(
            select(ContractTerm).where(ContractTerm.tenant_id == world.tenants["tapai"].id)
        ).scalar_one()
        assert term.notice_seconds == 72 * 3600
        users = {u.email: u for u in db.session.scalars(select(User))}
        assert len(users) == len(STAFF) + len(CUSTOMERS)
        assert users["admin@forewarn.example"].is_admin
        assert users["manager@forewarn.example"].is_account_manager
        assert users["admin@tapai.example"].is_tenant_admin
        assert users["user@ptu.example"].tenant_id == world.tenants["ptu"].id
        assert all(u.check_password(PASSWORD) for u in users.values())
        approver = users["approver@forewarn.example"]
        assert db.session.scalar(
            select(TeamMembership.is_approver).where(TeamMembership.user_id == approver.id)
        )
        assert count(AccountManagerAssignment) >= 10


def test_story_changes_are_told_through_the_real_services(app):
    with app.app_context():
        seed_demo(password=PASSWORD, now=T0)
        db.session.commit()
        assert count(Change) == len(STORY)
        draft = by_title("Upgrade the fusion model; output resolution changes")
        assert draft.status == "draft"
        scheduled = by_title("Face Fusion API: lower rate limit on /v2/blend")
        assert scheduled.status == "scheduled" and scheduled.published_at == T0
        tapai = db.session.execute(select(Tenant).where(Tenant.slug == "tapai")).scalar_one()
        row = db.session.execute(
            select(ChangeTenant).where(
                ChangeTenant.change_id == scheduled.id, ChangeTenant.tenant_id == tapai.id
            )
        ).scalar_one()
        assert row.required_notice_seconds == 72 * 3600
        assert scheduled.starts_at >= T0 + dt.timedelta(hours=73)
        # What customers need to do, and by when: in the change and in what was announced.
        assert "Retry-After" in scheduled.customer_action
        assert scheduled.act_by == scheduled.starts_at - dt.timedelta(days=1)
        assert '"act_by"' in scheduled.revisions[0].snapshot
        assert "Retry-After" in scheduled.revisions[0].snapshot
        # Publishing wrote the outbox rows the worker will deliver: Tapai's included.
        assert (
            db.session.scalar(
                select(func.count()).where(
                    OutboxMessage.change_id == scheduled.id, OutboxMessage.tenant_id == tapai.id
                )
            )
            >= 1
        )
        pending = by_title("Hotfix: Image Moderation misflags medical images")
        assert pending.status == "pending_approval"
        assert (
            db.session.scalar(
                select(EmergencyRequest.decision).where(EmergencyRequest.change_id == pending.id)
            )
            is None
        )
        done = by_title("Single Sign-On: emergency patch for a token-validation flaw")
        assert done.status == "completed" and done.short_notice
        assert db.session.scalar(select(func.count()).where(NoticeBreach.change_id == done.id)) >= 1
        assert by_title("Managed DNS: rolling restart of the resolver fleet").status == "cancelled"
        assert verify().ok


def test_seeding_twice_changes_nothing(app):
    with app.app_context():
        first = seed_demo(password=PASSWORD, now=T0)
        db.session.commit()
        assert first.created > 0
        counts = [count(m) for m in (Tenant, User, Service, Change, OutboxMessage, LedgerEntry)]
        second = seed_demo(password=PASSWORD, now=T0 + dt.timedelta(days=2))
        db.session.commit()
        assert second.created == 0
        assert [
            count(m) for m in (Tenant, User, Service, Change, OutboxMessage, LedgerEntry)
        ] == counts


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, smtp_server):
    return {
        **app_config,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_server.port,
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_TIMEOUT_SECONDS": 10,  # generous: a loaded CI machine is slow to answer
    }


def test_the_storys_past_is_mailed_at_its_own_time(app, smtp_server):
    """The seeded emergency was told six days ago, before it started, not at demo start
    (issue #16 item 7); its approvers were asked then too."""
    with app.app_context():
        seed_demo(password=PASSWORD, now=T0, deliver=lambda at: dispatch_due(now=lambda: at))
        db.session.commit()
        sso = by_title("Single Sign-On: emergency patch for a token-validation flaw")
        given = db.session.scalars(
            select(ChangeTenant.notice_given_at).where(ChangeTenant.change_id == sso.id)
        ).all()
        assert given and all(g is not None and g < sso.starts_at for g in given)
        assert all(T0 - dt.timedelta(days=7) < g < T0 - dt.timedelta(days=5) for g in given)
        dns = by_title("Managed DNS: rolling restart of the resolver fleet")
        dns_given = db.session.scalars(
            select(ChangeTenant.notice_given_at).where(ChangeTenant.change_id == dns.id)
        ).all()
        assert dns_given and all(
            g is not None and g <= T0 - dt.timedelta(days=1) for g in dns_given
        )
        # Today's changes are left to the worker.
        rate = by_title("Face Fusion API: lower rate limit on /v2/blend")
        assert db.session.scalar(
            select(func.count()).where(
                OutboxMessage.change_id == rate.id, OutboxMessage.status == "pending"
            )
        )
        subjects = [m["Subject"] for m in smtp_server.sink.received]
        assert any(s.startswith("Emergency approval requested: Single Sign-On") for s in subjects)
