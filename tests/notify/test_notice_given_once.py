"""Exactly one notice clock per (revision, tenant): one D(t), one ``notice.given`` entry, and
the certificate cites the entry whose time it shows (DESIGN.md "Core concepts", "Proof")."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from portal.changes.models import ChangeTenant
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.notify.evidence import record_batch
from portal.notify.models import SENT, OutboxMessage
from portal.notify.render import message_id
from tests.conftest import T0


def outcome(row: OutboxMessage, at: dt.datetime) -> dict:
    return {
        "status": SENT,
        "sent_at": at,
        "message_id": message_id(row),
        "smtp_reply": "250 ok",
        "attempts": 1,
        "failed_at": None,
        "last_error": None,
    }


def tapai_rows(world) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage).filter_by(tenant_id=world.tapai.id).order_by(OutboxMessage.id)
        )
    )


def notice_given_entries(world) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            select(LedgerEntry).filter_by(action="notice.given", tenant_id=world.tapai_id)
        )
    )


def given_at(world) -> dt.datetime | None:
    return db.session.scalar(
        select(ChangeTenant.notice_given_at).filter_by(
            change_id=world.change_id, tenant_id=world.tapai_id
        )
    )


@pytest.fixture
def published(published):
    published.change_id, published.tapai_id = published.change.id, published.tapai.id
    return published


def test_a_later_batch_with_an_earlier_acceptance_writes_no_second_clock(published):
    first, second = tapai_rows(published)
    # Worker A's batch commits first with an acceptance at T0+10 s; worker B's batch, holding
    # an acceptance at T0+5 s, commits after it.
    record_batch([first], {first.id: outcome(first, T0 + dt.timedelta(seconds=10))}, now=T0)
    db.session.commit()
    record_batch([second], {second.id: outcome(second, T0 + dt.timedelta(seconds=5))}, now=T0)
    db.session.commit()
    assert given_at(published) == T0 + dt.timedelta(seconds=10)
    assert len(notice_given_entries(published)) == 1


def test_the_certificate_cites_the_entry_whose_time_it_shows(published, dispatch, app):
    from portal.certificates.services import build

    dispatch()
    ct = db.session.scalar(
        select(ChangeTenant).filter_by(change_id=published.change.id, tenant_id=published.tapai.id)
    )
    data = build(published.change, published.tapai, ct, now=T0, issued_to="test")
    given = data["notice_given"]
    [entry] = notice_given_entries(published)
    assert given["ledger"]["seq"] == entry.seq
    assert f'"notice_given_at":"{given["at"]}"' in entry.payload


@pytest.mark.postgres_only
def test_two_workers_committing_at_once_write_one_clock(app, published):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL (real concurrent transactions)")
    ids = [r.id for r in tapai_rows(published)]
    db.session.remove()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(oid: int, seconds: int) -> None:
        try:
            with app.app_context():
                row = db.session.get(OutboxMessage, oid)
                at = T0 + dt.timedelta(seconds=seconds)
                barrier.wait(timeout=5)
                record_batch([row], {row.id: outcome(row, at)}, now=T0)
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    for _ in range(5):  # several rounds: a race that is only likely must show
        db.session.execute(
            ChangeTenant.__table__.update()
            .where(ChangeTenant.tenant_id == published.tapai_id)
            .values(notice_given_at=None)
        )
        db.session.commit()
        before = len(notice_given_entries(published))
        threads = [threading.Thread(target=worker, args=(oid, n)) for n, oid in enumerate(ids)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert not errors, errors
        db.session.expire_all()
        assert len(notice_given_entries(published)) == before + 1
        assert given_at(published) is not None
