"""Races between concurrent requests: a 409, never a 500 (issue #11 item 6). The concurrent
cases need PostgreSQL (real row locks and concurrent transactions)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.ledger.models import LedgerEntry, LedgerHead
from portal.races import conflict_for
from portal.tenants.models import NoticeContact
from tests.changes.conftest import change_body


def needs_postgresql():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL (concurrent transactions); set PORTAL_TEST_DATABASE_URL")


def at_once(app, calls) -> list:
    """Run each call in its own thread and app context, released together; their results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        with app.app_context():
            barrier.wait(timeout=10)
            try:
                results[i] = call()
            except BaseException as exc:  # noqa: BLE001 (reported to the test)
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.postgres_only
def test_two_publishes_of_one_draft_at_once_answer_200_and_409(app, story, bearer):
    needs_postgresql()
    headers = bearer(story.ana)
    client = app.test_client()
    for _ in range(3):  # several rounds: a race that is only likely must show
        created = client.post("/api/v1/changes", json=change_body(), headers=headers)
        url = f"/api/v1/changes/{created.get_json()['change']['id']}/publish"
        db.session.remove()
        responses = at_once(
            app, [lambda u=url: app.test_client().post(u, headers=headers) for _ in range(2)]
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 409], [r.get_json() for r in responses]
        refused = next(r for r in responses if r.status_code == 409).get_json()["error"]
        assert "this one is scheduled" in refused["message"]


def test_a_unique_violation_is_a_409_race_and_a_not_null_one_is_not(app, make_tenant):
    tenant = make_tenant("tapai", contacts=1)
    db.session.commit()
    email = db.session.scalar(select(NoticeContact.email))
    db.session.add(NoticeContact(tenant_id=tenant.id, email=email, name=""))
    with pytest.raises(IntegrityError) as unique:
        db.session.flush()
    db.session.rollback()
    conflict = conflict_for(unique.value)
    assert conflict is not None and conflict.status == 409 and "reload" in conflict.message
    db.session.add(NoticeContact(tenant_id=tenant.id, email=None, name=""))
    with pytest.raises(IntegrityError) as not_null:
        db.session.flush()
    db.session.rollback()
    assert conflict_for(not_null.value) is None


def test_a_fresh_database_has_the_ledger_head_from_its_migration(tmp_path):
    """`forewarn db upgrade` on an empty database creates the head row (migration 0008)."""
    import flask_migrate

    from portal import create_app

    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    fresh = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    with fresh.app_context():
        flask_migrate.upgrade()
        head = db.session.get(LedgerHead, 1)
        assert (head.seq, head.hash) == (0, "0" * 64)
        db.session.remove()
        db.engine.dispose()


@pytest.mark.postgres_only
def test_the_first_two_ledger_appends_at_once_both_land(app):
    needs_postgresql()
    from portal.clock import utcnow
    from portal.ledger.services import record, verify

    db.session.execute(text("DELETE FROM ledger_head"))  # as a schema without migration 0008
    db.session.commit()

    def append():
        record("test.race", subject_type="test", subject_id=1, actor=None, now=utcnow(), payload={})
        db.session.commit()
        return True

    assert at_once(app, [append, append]) == [True, True]
    assert len(list(db.session.scalars(select(LedgerEntry)))) == 2
    assert verify().ok
