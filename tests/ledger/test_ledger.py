"""The hash-chained ledger detects any edit, deletion or reordering."""

import datetime as dt

import pytest
from sqlalchemy import delete, select, update

from portal.extensions import db
from portal.ledger.models import LedgerEntry, LedgerHead
from portal.ledger.services import canonical_json, entries_for, record, verify
from tests.conftest import T0


@pytest.fixture
def chain(app, admin):
    for i in range(5):
        record(
            "test.fact",
            subject_type="thing",
            subject_id=i,
            payload={"i": i, "at": T0},
            actor=admin,
            now=T0 + dt.timedelta(minutes=i),
            tenant_id=7,
            change_id=3,
        )
    db.session.commit()


def test_empty_ledger_verifies(app):
    assert verify().ok


def test_intact_chain_verifies(chain):
    result = verify()
    assert result.ok and result.entries == 5


def test_entries_link_to_their_predecessor(chain):
    rows = db.session.execute(select(LedgerEntry).order_by(LedgerEntry.seq)).scalars().all()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))


@pytest.mark.parametrize("seq", [1, 3, 5])
def test_editing_any_entry_is_detected(chain, seq):
    db.session.execute(
        update(LedgerEntry).where(LedgerEntry.seq == seq).values(payload=canonical_json({"i": 99}))
    )
    db.session.commit()
    result = verify()
    assert not result.ok and result.broken_seq == seq and "altered" in result.reason


def test_editing_the_time_is_detected(chain):
    db.session.execute(
        update(LedgerEntry).where(LedgerEntry.seq == 2).values(at=T0 - dt.timedelta(days=1))
    )
    db.session.commit()
    assert verify().broken_seq == 2


@pytest.mark.parametrize("seq", [1, 3])
def test_deleting_an_entry_is_detected(chain, seq):
    db.session.execute(delete(LedgerEntry).where(LedgerEntry.seq == seq))
    db.session.commit()
    result = verify()
    assert not result.ok and result.broken_seq == seq


def test_deleting_the_newest_entry_is_detected(chain):
    db.session.execute(delete(LedgerEntry).where(LedgerEntry.seq == 5))
    db.session.commit()
    result = verify()
    assert not result.ok and "removed" in result.reason


def test_reordering_entries_is_detected(chain):
    # Swap the positions of entries 2 and 3.
    db.session.execute(update(LedgerEntry).where(LedgerEntry.seq == 2).values(seq=1002))
    db.session.execute(update(LedgerEntry).where(LedgerEntry.seq == 3).values(seq=2))
    db.session.execute(update(LedgerEntry).where(LedgerEntry.seq == 1002).values(seq=3))
    db.session.commit()
    result = verify()
    assert not result.ok and result.broken_seq == 2


def test_rehashing_an_edited_entry_still_breaks_the_next_link(chain):
    from portal.ledger.services import entry_hash

    entry = db.session.get(LedgerEntry, 2)
    entry.payload = canonical_json({"i": 42})
    entry.hash = entry_hash(entry)
    db.session.commit()
    assert verify().broken_seq == 3


def test_head_tracks_the_last_entry(chain):
    head = db.session.get(LedgerHead, 1)
    last = db.session.get(LedgerEntry, 5)
    assert (head.seq, head.hash) == (5, last.hash)


def test_entries_for_a_change_and_tenant(chain):
    assert len(entries_for(change_id=3, tenant_id=7)) == 5
    assert entries_for(change_id=4) == []


def test_payload_refuses_naive_datetimes(app):
    with pytest.raises(ValueError):
        record("x", subject_type="t", subject_id=1, payload={"at": dt.datetime(2026, 1, 1)}, now=T0)


def test_cli_verify_reports_ok_and_broken(chain, app):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["ledger", "verify"])
    assert ok.exit_code == 0 and "OK: 5 entries" in ok.output
    db.session.execute(delete(LedgerEntry).where(LedgerEntry.seq == 4))
    db.session.commit()
    broken = runner.invoke(args=["ledger", "verify", "--json"])
    assert broken.exit_code == 1 and '"broken_seq": 4' in broken.output


def test_record_is_part_of_the_callers_transaction(app, admin):
    record("test.rolled_back", subject_type="thing", subject_id=1, now=T0)
    db.session.rollback()
    assert db.session.execute(select(LedgerEntry)).first() is None
    assert verify().ok
