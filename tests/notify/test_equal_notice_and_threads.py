"""Equal notice (first-party tenants are never told first) and threading of updates."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select, update

from portal.changes.services import input_of, revise
from portal.extensions import db
from portal.notify.models import OutboxMessage
from tests.conftest import T0


def arrival_tenants(sink):
    return [m["To"].split("@")[1].split(".")[0] for m in sink.received]


def test_first_party_tenant_is_never_told_first(published, dispatch, sink):
    # Ptu's row is due first, so the claim's due_at order alone would send it first; and one
    # row per batch: the most favourable case for jumping the queue, were it possible.
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.tenant_id == published.ptu.id)
        .values(due_at=T0 - dt.timedelta(minutes=1))
    )
    db.session.commit()
    dispatch(batch_size=1)
    order = arrival_tenants(sink)
    assert len(order) == 5
    assert order[-1] == "ptu"
    assert "ptu" not in order[:-1]


def test_first_party_waits_while_third_party_notices_are_retrying(
    published, dispatch, sink, smtp_server, clock
):
    # The third parties' first attempt fails (server down): Ptu is not sent, not even tried.
    smtp_server.stop()
    first = dispatch()
    assert first.claimed == 4 and first.retrying == 4
    ptu_row = db.session.scalar(select(OutboxMessage).filter_by(tenant_id=published.ptu.id))
    assert ptu_row.attempts == 0
    clock.advance(hours=2)  # every retry is due again, whatever its jitter; still down
    again = dispatch()
    assert again.claimed == 4 and again.retrying == 4
    db.session.refresh(ptu_row)
    assert ptu_row.attempts == 0
    smtp_server.start()
    clock.advance(hours=2)
    dispatch()
    order = arrival_tenants(sink)
    assert sorted(order) == ["other", "other", "ptu", "tapai", "tapai"]
    assert order[-1] == "ptu"


def test_updates_thread_under_the_first_notice(published, dispatch, sink, clock):
    dispatch()
    [first] = sink.to("ops1@tapai.example")
    clock.advance(hours=1)
    inp = input_of(published.change)
    later = dataclasses.replace(
        inp,
        starts_at=inp.starts_at + dt.timedelta(days=1),
        ends_at=inp.ends_at + dt.timedelta(days=1),
    )
    revise(published.change, later, actor=published.engineer, now=clock.now())
    db.session.commit()
    dispatch()
    second = sink.to("ops1@tapai.example")[1]
    assert second["Subject"] == (
        "[Acknowledge by 8 Nov] Rescheduled degradation: Face Fusion API, Sun 8 Nov 10:00 "
        "(UTC+1) - Upgrade the fusion model"
    )
    assert second["In-Reply-To"] == first["Message-ID"]
    assert second["References"] == first["Message-ID"]
    assert second["Message-ID"] != first["Message-ID"]
    assert ".rev-2." in second["Message-ID"]
