"""Acknowledgement, objection and waiver rules, straight on the services."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from portal.acks.models import Acknowledgement, Waiver
from portal.acks.services import (
    acknowledge,
    acknowledged_tenant_ids,
    answer_objection,
    object_to,
    waive,
)
from portal.changes.models import ChangeTenant
from portal.errors import Conflict, Forbidden, InvalidInput, NotFound
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.ledger.services import verify
from tests.acks.conftest import revise_materially
from tests.conftest import T0


def _ledger_count():
    return db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()


def test_first_acknowledgement_counts_and_later_ones_are_seen(story):
    first = acknowledge(
        story.change, story.tapai.id, user=story.tapai_user, now=T0, channel="portal"
    )
    second = acknowledge(
        story.change,
        story.tapai.id,
        recipient="ops1@tapai.example",
        now=T0 + dt.timedelta(hours=1),
        channel="email",
    )
    assert (first.status, second.status) == ("counted", "seen")
    assert first.ack.counts and not second.ack.counts
    assert acknowledged_tenant_ids(story.change.id) == {story.tapai.id}
    actions = db.session.execute(select(LedgerEntry.action).order_by(LedgerEntry.seq)).scalars()
    assert list(actions) == ["ack.recorded", "ack.seen"]
    assert first.ack.ledger_seq == 1 and second.ack.ledger_seq == 2


def test_same_person_acknowledging_again_is_a_replay_that_changes_nothing(story):
    acknowledge(story.change, story.tapai.id, user=story.tapai_user, now=T0, channel="portal")
    before = _ledger_count()
    again = acknowledge(
        story.change,
        story.tapai.id,
        user=story.tapai_user,
        now=T0 + dt.timedelta(hours=2),
        channel="api",
    )
    assert again.status == "replay" and not again.changed_anything
    assert _ledger_count() == before
    assert db.session.execute(select(func.count()).select_from(Acknowledgement)).scalar_one() == 1


def test_material_revision_asks_for_a_fresh_acknowledgement_and_keeps_history(story):
    acknowledge(story.change, story.tapai.id, user=story.tapai_user, now=T0, channel="portal")
    revise_materially(story.change, at=T0 + dt.timedelta(hours=3))
    assert acknowledged_tenant_ids(story.change.id) == set()
    assert acknowledged_tenant_ids(story.change.id, revision_number=1) == {story.tapai.id}
    fresh = acknowledge(
        story.change,
        story.tapai.id,
        user=story.tapai_user,
        now=T0 + dt.timedelta(hours=4),
        channel="portal",
    )
    assert fresh.status == "counted" and fresh.ack.revision_number == 2
    assert acknowledged_tenant_ids(story.change.id) == {story.tapai.id}
    assert db.session.execute(select(func.count()).select_from(Acknowledgement)).scalar_one() == 2


def test_acknowledged_tenant_ids_uses_one_query_for_any_number_of_tenants(story):
    acknowledge(story.change, story.tapai.id, user=story.tapai_user, now=T0, channel="portal")
    acknowledge(story.change, story.ptu.id, user=story.ptu_user, now=T0, channel="portal")
    assert acknowledged_tenant_ids(story.change.id) == {story.tapai.id, story.ptu.id}


def test_unaffected_tenant_cannot_acknowledge(story):
    with pytest.raises(NotFound):
        acknowledge(story.change, story.other.id, user=story.other_user, now=T0, channel="portal")
    assert _ledger_count() == 0


def test_objection_needs_a_reason(story):
    with pytest.raises(InvalidInput):
        object_to(story.change, story.tapai.id, user=story.tapai_user, reason="   ", now=T0)
    assert _ledger_count() == 0


def test_objection_is_ledgered_and_answered_by_the_owning_team(story, make_user):
    objection = object_to(
        story.change,
        story.tapai.id,
        user=story.tapai_user,
        reason="Our launch is that week",
        now=T0,
    )
    assert objection.is_open and objection.ledger_seq == 1
    with pytest.raises(Forbidden):
        answer_objection(objection, user=make_user(), answer="no", now=T0)
    answer_objection(objection, user=story.engineer, answer="We will move it", now=T0)
    assert not objection.is_open
    answered = db.session.execute(
        select(LedgerEntry).where(LedgerEntry.seq == objection.answer_ledger_seq)
    ).scalar_one()
    assert answered.action == "objection.answered" and answered.seq > objection.ledger_seq
    with pytest.raises(Conflict):
        answer_objection(objection, user=story.engineer, answer="again", now=T0)


def test_tenant_admin_waiver_sets_waived_at_and_is_ledgered(story):
    waiver = waive(story.change, story.tapai.id, user=story.tapai_admin, now=T0, channel="portal")
    ct = db.session.execute(
        select(ChangeTenant).filter_by(change_id=story.change.id, tenant_id=story.tapai.id)
    ).scalar_one()
    assert ct.waived_at == T0
    assert waiver.agreed_by == "Ann Admin <ann@tapai.example>" and waiver.ledger_seq == 1
    with pytest.raises(Conflict):
        waive(story.change, story.tapai.id, user=story.tapai_admin, now=T0, channel="portal")
    assert verify().ok


def test_waiver_by_a_non_admin_customer_is_refused_and_changes_nothing(story):
    with pytest.raises(Forbidden):
        waive(story.change, story.tapai.id, user=story.tapai_user, now=T0, channel="portal")
    ct = db.session.execute(
        select(ChangeTenant).filter_by(change_id=story.change.id, tenant_id=story.tapai.id)
    ).scalar_one()
    assert ct.waived_at is None and _ledger_count() == 0
    assert db.session.execute(select(func.count()).select_from(Waiver)).scalar_one() == 0


def test_account_manager_records_offline_waiver_naming_who_agreed(story):
    with pytest.raises(InvalidInput):
        waive(story.change, story.tapai.id, user=story.am, now=T0, channel="portal")
    waiver = waive(
        story.change,
        story.tapai.id,
        user=story.am,
        now=T0,
        channel="portal",
        agreed_by="Ann Admin (phone call)",
    )
    assert waiver.channel == "offline" and waiver.agreed_by == "Ann Admin (phone call)"


def test_account_manager_cannot_waive_for_an_unassigned_tenant(story):
    with pytest.raises(Forbidden):
        waive(
            story.change,
            story.ptu.id,
            user=story.am,
            now=T0,
            channel="offline",
            agreed_by="someone",
        )
    assert _ledger_count() == 0


def test_two_people_acknowledging_at_once_cannot_both_be_first(app, story, monkeypatch):
    """Each request in its own thread and session; the first holds the (change, tenant) lock
    while it dawdles, so the second waits and then sees the first's acknowledgement."""
    import threading
    import time

    import portal.acks.services as services
    from portal.auth.models import User
    from portal.changes.models import Change

    real = services._require_current

    def dawdle(*args):
        real(*args)
        time.sleep(0.3)

    monkeypatch.setattr(services, "_require_current", dawdle)
    ids = (story.tapai_user.id, story.tapai_admin.id)
    change_id, tenant_id = story.change.id, story.tapai.id
    results, errors = {}, []

    def request(user_id):
        try:
            with app.app_context():
                outcome = acknowledge(
                    db.session.get(Change, change_id),
                    tenant_id,
                    user=db.session.get(User, user_id),
                    now=T0,
                    channel="api",
                    revision=1,
                )
                results[user_id] = outcome.status
                db.session.commit()
                db.session.remove()
        except Exception as err:  # reported below, not swallowed
            errors.append(err)

    threads = [threading.Thread(target=request, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(results.values()) == ["counted", "seen"]
    db.session.expire_all()
    counted = db.session.execute(
        select(func.count()).select_from(Acknowledgement).where(Acknowledgement.counts.is_(True))
    ).scalar_one()
    assert counted == 1
