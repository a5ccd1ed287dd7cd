"""Fixtures for the desk and certificate tests: a change published through the real service,
notices marked delivered or failed the way the dispatcher records them (outbox row, notice
given at, ledger entries), and the people of DESIGN.md's story."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from portal.changes.models import ChangeTenant
from portal.changes.services import publish
from portal.extensions import db
from portal.ledger.services import record
from portal.notify.models import FAILED, NOTICE, SENT, OutboxMessage
from tests.conftest import T0


def notice_rows(change, tenant):
    return list(
        db.session.execute(
            select(OutboxMessage).where(
                OutboxMessage.change_id == change.id,
                OutboxMessage.tenant_id == tenant.id,
                OutboxMessage.kind == NOTICE,
            )
        ).scalars()
    )


def deliver(change, tenant, at, reply="250 2.0.0 Ok: queued as 4F2A"):
    """What the dispatcher records when the SMTP server accepts a tenant's notices."""
    rows = notice_rows(change, tenant)
    assert rows, f"no notice queued for {tenant.slug}"
    for i, row in enumerate(rows):
        row.status, row.sent_at, row.attempts = SENT, at + dt.timedelta(seconds=i), 1
        row.smtp_reply, row.message_id = f"{reply}{i}", f"<n{row.id}@forewarn.test>"
        db.session.flush()
        record(
            "notice.delivered",
            subject_type="outbox_message",
            subject_id=row.id,
            tenant_id=tenant.id,
            change_id=change.id,
            actor="dispatcher",
            now=row.sent_at,
            payload={
                "revision": row.revision_number,
                "recipient": row.recipient,
                "smtp_reply": row.smtp_reply,
            },
        )
    ct = db.session.execute(
        select(ChangeTenant).filter_by(change_id=change.id, tenant_id=tenant.id)
    ).scalar_one()
    ct.notice_given_at = at
    record(
        "notice.given",
        subject_type="change_tenant",
        subject_id=f"{change.id}:{tenant.id}",
        tenant_id=tenant.id,
        change_id=change.id,
        actor="dispatcher",
        now=at,
        payload={"revision": ct.clock_revision, "notice_given_at": at},
    )
    db.session.flush()


def fail(change, tenant, error="550 5.1.1 mailbox unavailable"):
    for row in notice_rows(change, tenant):
        row.status, row.attempts, row.last_error = FAILED, 5, error
        row.failed_at = T0 + dt.timedelta(hours=2)
        db.session.flush()
        record(
            "notice.failed",
            subject_type="outbox_message",
            subject_id=row.id,
            tenant_id=tenant.id,
            change_id=change.id,
            actor="dispatcher",
            now=row.failed_at,
            payload={"revision": row.revision_number, "error": error},
        )


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """These tests sign in through the session, never with a password: skip the slow hash."""
    monkeypatch.setattr(
        "portal.auth.models.generate_password_hash",
        lambda password: generate_password_hash(password, "pbkdf2:sha256:1"),
    )


@pytest.fixture
def world(make_tenant, make_user, make_team, make_service, make_usage, make_change):
    """Tapai (third-party), Ptu (first-party), Other, a tenant without contacts, and one whose
    name is a spreadsheet formula; a degradation change published at T0 for all of them."""
    team = make_team("face-fusion", "Face Fusion")
    service = make_service(team, "face-fusion-api", "Face Fusion API")
    tapai = make_tenant("tapai", "Tapai", contacts=2)
    ptu = make_tenant("ptu", "Ptu", first_party=True)
    other = make_tenant("other", "Other Co")
    silent = make_tenant("silent", "Silent Ltd", contacts=0)
    evil = make_tenant("evil", '=HYPERLINK("http://x.example","y")')
    for t in (tapai, ptu, other, silent, evil):
        make_usage(t, service)
    engineer = make_user("eng@provider.example", name="Erin Engineer", teams=[team])
    change = make_change(
        services=[service],
        author=engineer,
        title="Upgrade the fusion model",
        starts_at=T0 + dt.timedelta(days=10),
    )
    publish(change, actor=engineer, now=T0)
    db.session.commit()
    return SimpleNamespace(
        team=team,
        service=service,
        tapai=tapai,
        ptu=ptu,
        other=other,
        silent=silent,
        evil=evil,
        engineer=engineer,
        change=change,
        tapai_user=make_user("tom@tapai.example", name="Tom Tapai", tenant=tapai),
        tapai_admin=make_user(
            "ann@tapai.example", name="Ann Admin", tenant=tapai, is_tenant_admin=True
        ),
        ptu_user=make_user("pat@ptu.example", name="Pat Ptu", tenant=ptu),
        other_user=make_user("olga@other.example", name="Olga Other", tenant=other),
        am=make_user(
            "am@provider.example",
            name="Amy Manager",
            is_account_manager=True,
            manages=[tapai, ptu, silent, evil],
        ),
        other_am=make_user(
            "am2@provider.example", name="Bob Manager", is_account_manager=True, manages=[other]
        ),
        outsider_engineer=make_user(
            "eve@provider.example", name="Eve Elsewhere", teams=[make_team("other-team")]
        ),
    )


@pytest.fixture
def admin_user(make_user):
    return make_user("root@provider.example", name="Ada Admin", is_admin=True)
