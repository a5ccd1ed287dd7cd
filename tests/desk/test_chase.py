"""Account managers can chase (issue #16 item 3): each tenant's notice contacts on the desk and
in the CSV, every address of the current filter to copy, and "Send reminder now" for the
filter, recorded in the ledger and limited to once per tenant per hour."""

from __future__ import annotations

import csv
import datetime as dt
import io

from flask import g
from sqlalchemy import select

from portal.acks.models import CHANNEL_PORTAL
from portal.acks.services import acknowledge
from portal.desk import chase
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.notify.models import REMINDER, OutboxMessage
from tests.conftest import T0
from tests.desk.conftest import deliver


def reminders(change) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.change_id == change.id, OutboxMessage.kind == REMINDER
            )
        )
    )


def told(world):
    """Tapai and Ptu were given notice; Tapai acknowledged; Silent has no contact."""
    deliver(world.change, world.tapai, T0 + dt.timedelta(minutes=1))
    deliver(world.change, world.ptu, T0 + dt.timedelta(minutes=2))
    acknowledge(
        world.change,
        world.tapai.id,
        now=T0 + dt.timedelta(hours=1),
        channel=CHANNEL_PORTAL,
        user=world.tapai_user,
    )
    db.session.commit()


def test_the_matrix_shows_each_tenants_notice_contacts(client, login, world):
    page = login(world.am).get(f"/desk/changes/{world.change.id}").get_data(as_text=True)
    assert 'href="mailto:ops1@tapai.example"' in page and 'href="mailto:ops2@tapai.example"' in page
    assert "no notice contact" in page  # Silent Ltd
    assert "ops1@other.example" not in page  # not Amy's tenant


def test_copy_addresses_covers_the_whole_filter_and_only_it(client, login, world):
    told(world)
    client = login(world.am)
    page = client.get(f"/desk/changes/{world.change.id}?filter=not_acknowledged").get_data(
        as_text=True
    )
    start = page.index('id="chase-addresses"')
    addresses = page[page.index(">", start) + 1 : page.index("</textarea>", start)]
    assert "ops1@ptu.example" in addresses and "ops1@evil.example" in addresses
    assert "tapai" not in addresses  # acknowledged: not in this filter
    assert "other.example" not in addresses  # another manager's tenant


def test_the_csv_has_a_notice_contacts_column(client, login, world):
    body = login(world.am).get(f"/desk/changes/{world.change.id}/matrix.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body)))
    tapai = next(r for r in rows if r["tenant"] == "tapai")
    assert tapai["notice_contacts"] == "ops1@tapai.example; ops2@tapai.example"


def test_send_reminder_now_reaches_told_silent_tenants_once_an_hour(client, login, world, clock):
    told(world)
    client = login(world.am)
    url = f"/desk/changes/{world.change.id}/remind"
    response = client.post(url, data={"filter": "not_acknowledged"})
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert "Reminder queued for 1 tenant (1 email)" in page
    assert "2 not yet given notice" in page  # Silent and Evil were never given notice
    queued = reminders(world.change)
    assert [(r.tenant_id, r.recipient) for r in queued] == [(world.ptu.id, "ops1@ptu.example")]
    left = int((world.change.starts_at - T0).total_seconds())
    assert queued[0].offset_seconds == left  # the real time left, not a configured offset
    entry = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.action == "change.reminder_requested")
    ).one()
    assert '"tenants":["ptu"]' in entry.payload and entry.actor_id == world.am.id

    # Within the hour: nobody again. After it: Ptu again.
    clock.set(T0 + dt.timedelta(minutes=30))
    page = client.get(client.post(url, data={}).location).get_data(as_text=True)
    assert "Reminder queued for 0 tenants" in page and "1 reminded within the last hour" in page
    clock.set(T0 + dt.timedelta(hours=2))
    client.post(url, data={})
    assert len(reminders(world.change)) == 2


def test_reminders_are_refused_for_a_change_that_is_not_scheduled(client, login, world, clock):
    clock.set(world.change.starts_at + dt.timedelta(minutes=1))
    client = login(world.am)
    response = client.post(f"/desk/changes/{world.change.id}/remind", data={})
    page = client.get(response.location).get_data(as_text=True)
    assert "Reminders go out only for a scheduled change before its start." in page
    assert reminders(world.change) == []


def test_customers_and_other_managers_cannot_send_reminders(client, login, world):
    told(world)
    deliver(world.change, world.other, T0 + dt.timedelta(minutes=3))
    db.session.commit()
    assert login(world.tapai_user).post(f"/desk/changes/{world.change.id}/remind").status_code in (
        403,
        404,
    )
    g.pop("_login_user", None)  # pytest-flask keeps one ``g`` per test: forget the customer
    # Bob manages only Other: his reminder reaches Other and nobody else.
    response = login(world.other_am).post(f"/desk/changes/{world.change.id}/remind", data={})
    assert response.status_code == 302
    assert {r.tenant_id for r in reminders(world.change)} == {world.other.id}


def test_delivery_delays_are_measured_from_each_tenants_revision(world):
    """A tenant told of a later material revision is not shown as days late (#16 item 3)."""
    from portal.changes.models import ChangeTenant, Revision
    from portal.desk.charts import chart_data

    deliver(world.change, world.tapai, T0 + dt.timedelta(seconds=30))
    later = T0 + dt.timedelta(days=2)
    db.session.add(
        Revision(
            change_id=world.change.id,
            number=2,
            kind="update",
            material=True,
            snapshot="{}",
            created_at=later,
        )
    )
    ct = db.session.scalars(
        select(ChangeTenant).filter_by(change_id=world.change.id, tenant_id=world.ptu.id)
    ).one()
    ct.clock_revision, ct.notice_given_at = 2, later + dt.timedelta(seconds=45)
    db.session.commit()
    _, delays = chart_data(world.change, world.am)
    assert sorted(d for d in delays if d is not None) == [30.0, 45.0]


def test_send_reminder_now_is_offered_when_the_service_would_send(
    client, login, world, monkeypatch
):
    """The matrix asks ``chase.may_remind``, the rule ``remind_now`` enforces."""
    told(world)
    client = login(world.am)
    url = f"/desk/changes/{world.change.id}"
    assert "Send reminder now" in client.get(url).get_data(as_text=True)
    monkeypatch.setattr(chase, "may_remind", lambda change, now: False)
    assert "Send reminder now" not in client.get(url).get_data(as_text=True)
    client.post(f"{url}/remind", data={})
    assert reminders(world.change) == []
