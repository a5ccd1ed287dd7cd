"""Equal notice in the production claim query (``portal.notify.claims.claim``), on every
attempt: retries, expired leases and several workers (DESIGN.md "Proof")."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from portal.extensions import db
from portal.notify.claims import claim
from portal.notify.models import FAILED, PENDING, SENDING, SENT, OutboxMessage
from tests.conftest import T0


def rows_of(tenant) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage).filter_by(tenant_id=tenant.id).order_by(OutboxMessage.id)
        )
    )


def set_rows(rows, **values) -> None:
    db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows])).values(**values)
    )
    db.session.commit()


def ptu_id(world) -> int:
    return rows_of(world.ptu)[0].id


def test_first_party_not_claimable_while_third_party_rows_wait(published):
    ids = claim(T0, worker="a", limit=100)
    assert len(ids) == 4 and ptu_id(published) not in ids


def test_first_party_not_claimable_while_a_third_party_row_is_leased_by_another_worker(
    published,
):
    first = claim(T0, worker="a", limit=1)  # a third party's row, leased by worker a
    assert ptu_id(published) not in first
    # Worker b takes everything else it may: never Ptu while a's row is in hand.
    second = claim(T0, worker="b", limit=100)
    assert len(second) == 3 and ptu_id(published) not in second
    # Both leases run out (a and b died): the rows are taken over, and still no Ptu.
    later = T0 + dt.timedelta(minutes=5)
    third = claim(later, worker="c", limit=100)
    assert set(third) == set(first) | set(second) and third.taken_over == 4


def test_first_party_not_claimable_while_a_third_party_retry_waits_for_its_backoff(published):
    third_party = rows_of(published.tapai) + rows_of(published.other)
    set_rows(third_party[:3], status=SENT, sent_at=T0)
    # Other Co's second contact failed once; its retry is due in an hour (backoff, jitter).
    last = third_party[3]
    set_rows(rows_of(published.other), status=SENT, sent_at=T0)
    set_rows([last], status=PENDING, attempts=1, due_at=T0 + dt.timedelta(hours=1))
    # Other Co's notice was given through its first contact: its retrying second contact
    # holds nobody back.
    assert claim(T0, worker="a", limit=100) == [ptu_id(published)]


def test_first_party_waits_for_a_retrying_tenant_whose_notice_is_not_given(published):
    set_rows(rows_of(published.tapai), status=SENT, sent_at=T0)
    set_rows(
        rows_of(published.other), status=PENDING, attempts=3, due_at=T0 + dt.timedelta(hours=1)
    )
    assert claim(T0, worker="a", limit=100) == []
    assert claim(T0 + dt.timedelta(hours=2), worker="a", limit=100) == [
        r.id for r in rows_of(published.other)
    ]


def test_first_party_claimable_once_third_parties_are_given_or_finally_failed(published):
    set_rows(rows_of(published.tapai), status=SENT, sent_at=T0)
    set_rows(rows_of(published.other), status=FAILED, attempts=5, failed_at=T0)
    assert claim(T0, worker="a", limit=100) == [ptu_id(published)]


def test_an_expired_first_party_lease_is_not_retaken_while_third_parties_wait(published):
    # However Ptu's row came to be leased, a re-claim of it is held by equal notice too.
    set_rows(rows_of(published.ptu), status=SENDING, claimed_by="gone", claimed_until=T0)
    ids = claim(T0 + dt.timedelta(minutes=1), worker="a", limit=100)
    assert ptu_id(published) not in ids and len(ids) == 4
