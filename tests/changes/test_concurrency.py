"""No outcome of revision N counts for revision N+1 (issue #12 item 9), with real concurrent
transactions on PostgreSQL: a delivery or a waiver committed while a material revision is
being saved is either reset by it or no longer matches the new clock revision."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest
from sqlalchemy import select

from portal.changes.lifecycle import gates
from portal.changes.models import ChangeTenant
from portal.changes.services import input_of, revise
from portal.extensions import db
from tests.changes.test_screens import make_draft, publish
from tests.conftest import T0

pytestmark = pytest.mark.postgres_only


@pytest.fixture(autouse=True)
def _postgresql_only(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL (row locks); set PORTAL_TEST_DATABASE_URL")


def row(change, tenant) -> ChangeTenant:
    db.session.expire_all()
    return db.session.scalar(
        select(ChangeTenant).where(
            ChangeTenant.change_id == change.id, ChangeTenant.tenant_id == tenant.id
        )
    )


def in_other_transaction(app, work, started: threading.Event, hold: float = 0.5):
    """Run ``work()`` in its own session and transaction; signal ``started`` once it has
    written (holding its row locks), commit ``hold`` seconds later."""

    def run():
        with app.app_context():
            try:
                work()
                db.session.flush()
                started.set()
                threading.Event().wait(hold)
                db.session.commit()
            finally:
                started.set()
                db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def longer(change):
    return dataclasses.replace(input_of(change), ends_at=change.ends_at + dt.timedelta(hours=3))


def test_a_delivery_committed_during_a_material_revision_does_not_count_for_it(app, story):
    from portal.notify.evidence import _set_notice_given

    change = make_draft(story)
    publish(change, story)
    delivered_at = T0 + dt.timedelta(minutes=5)
    started = threading.Event()
    key = (change.id, story.tapai.id, 1)
    thread = in_other_transaction(app, lambda: _set_notice_given({key: delivered_at}), started)
    started.wait(5)
    revision = revise(change, longer(change), actor=story.ana, now=T0 + dt.timedelta(minutes=6))
    db.session.commit()
    thread.join(5)
    assert revision.material
    tapai = row(change, story.tapai)
    assert tapai.clock_revision == 2 and tapai.notice_given_at is None
    gate = next(g for g in gates(change, change.starts_at) if g.tenant_id == story.tapai.id)
    assert not gate.state.open


def test_a_delivery_arriving_after_the_revision_began_waits_and_then_matches_nothing(app, story):
    from portal.notify.evidence import _set_notice_given

    change = make_draft(story)
    publish(change, story)
    revise(change, longer(change), actor=story.ana, now=T0 + dt.timedelta(minutes=6))
    db.session.flush()  # revision 2 holds the tenant rows, not committed yet
    done = threading.Event()
    key = (change.id, story.tapai.id, 1)

    def deliver_revision_1():
        with app.app_context():
            _set_notice_given({key: T0 + dt.timedelta(minutes=7)})
            db.session.commit()
            db.session.remove()
            done.set()

    thread = threading.Thread(target=deliver_revision_1)
    thread.start()
    assert not done.wait(0.3)  # it waits for the revision's locks
    db.session.commit()
    thread.join(5)
    assert row(change, story.tapai).notice_given_at is None


def test_a_waiver_committed_during_a_material_revision_does_not_survive_it(app, story):
    from portal.acks.services import waive
    from tests.changes.conftest import api_user

    change = make_draft(story)
    publish(change, story)
    admin = api_user("boss@tapai.example", tenant=story.tapai, is_tenant_admin=True)
    db.session.commit()
    admin_id, change_id = admin.id, change.id
    started = threading.Event()

    def waive_in_thread():
        from portal.auth.models import User
        from portal.changes.models import Change

        waive(
            db.session.get(Change, change_id),
            story.tapai.id,
            user=db.session.get(User, admin_id),
            now=T0 + dt.timedelta(minutes=5),
            channel="portal",
        )

    thread = in_other_transaction(app, waive_in_thread, started)
    started.wait(5)
    revise(change, longer(change), actor=story.ana, now=T0 + dt.timedelta(minutes=6))
    db.session.commit()
    thread.join(5)
    tapai = row(change, story.tapai)
    assert tapai.clock_revision == 2 and tapai.waived_at is None
