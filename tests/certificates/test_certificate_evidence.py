"""A delivery is backed by its own ledger entry or by a batch entry that lists it (the
dispatcher has written both shapes); a settled delivery with neither is shown as missing."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.ledger.services import record
from portal.notify.models import SENT
from tests.conftest import T0
from tests.desk.conftest import notice_rows


def _mark_sent(world):
    rows = notice_rows(world.change, world.tapai)
    for i, row in enumerate(rows):
        row.status, row.sent_at, row.attempts = SENT, T0 + dt.timedelta(seconds=i), 1
        row.smtp_reply, row.message_id = f"250 ok {i}", f"<n{row.id}@forewarn.test>"
    db.session.flush()
    return rows


def test_deliveries_listed_in_one_batch_entry_cite_it(client, login, world):
    rows = _mark_sent(world)
    batch = record(
        "notice.given",
        subject_type="change_tenant",
        subject_id=f"{world.change.id}:{world.tapai.id}",
        tenant_id=world.tapai.id,
        change_id=world.change.id,
        actor="dispatcher",
        now=T0,
        payload={
            "revision": 1,
            "failed": [],
            "delivered": [
                {
                    "recipient": r.recipient,
                    "message_id": r.message_id,
                    "attempts": 1,
                    "accepted_at": r.sent_at,
                    "smtp_reply": r.smtp_reply,
                }
                for r in rows
            ],
        },
    )
    db.session.commit()
    cert = login(world.am).get(f"/certificates/{world.change.id}/tapai.json").get_json()
    assert len(cert["deliveries"]) == len(rows) == 2
    for d in cert["deliveries"]:
        assert d["evidence"] == "ledger"
        assert d["ledger"] == [
            {
                "seq": batch.seq,
                "hash": batch.hash,
                "action": "notice.given",
                "at": T0.isoformat(),
                "listed_in_batch": True,
            }
        ]
    page = client.get(f"/certificates/{world.change.id}/tapai").text
    assert "listed in a batch entry" in page and batch.hash in page


def test_a_batch_entry_matches_by_recipient_and_revision_without_a_message_id(client, login, world):
    rows = _mark_sent(world)
    record(
        "notice.delivered",
        subject_type="change_tenant",
        subject_id=f"{world.change.id}:{world.tapai.id}",
        tenant_id=world.tapai.id,
        change_id=world.change.id,
        actor="dispatcher",
        now=T0,
        payload={"revision": 1, "delivered": [{"recipient": rows[0].recipient.upper()}]},
    )
    db.session.commit()
    cert = login(world.am).get(f"/certificates/{world.change.id}/tapai.json").get_json()
    by_recipient = {d["recipient"]: d for d in cert["deliveries"]}
    assert by_recipient[rows[0].recipient]["evidence"] == "ledger"
    assert by_recipient[rows[1].recipient]["evidence"] == "missing"


def test_a_settled_delivery_without_any_entry_is_flagged(client, login, world):
    _mark_sent(world)
    db.session.commit()
    assert (
        db.session.scalar(select(LedgerEntry).where(LedgerEntry.subject_type == "outbox_message"))
        is None
    )
    cert = login(world.am).get(f"/certificates/{world.change.id}/tapai.json").get_json()
    assert {d["evidence"] for d in cert["deliveries"]} == {"missing"}
    assert all(d["ledger"] == [] for d in cert["deliveries"])
    page = client.get(f"/certificates/{world.change.id}/tapai").text
    assert "no ledger entry for this delivery" in page


def test_equal_notice_page_shows_times_in_the_viewers_zone(client, login, world, make_user):
    from tests.desk.conftest import deliver

    deliver(world.change, world.tapai, T0 + dt.timedelta(minutes=5, microseconds=345460))
    viewer = make_user("paris@provider.example", is_admin=True, time_zone="Europe/Paris")
    db.session.commit()
    page = login(viewer).get(f"/certificates/{world.change.id}/equal-notice").text
    assert not re.search(r">[^<]*\.345460", page), "microseconds in the visible text"
    assert "+00:00 UTC" not in page
    assert "10:05:00 UTC+1 (09:05:00 UTC)" in page  # seconds: the order of notices matters
    data = client.get(f"/certificates/{world.change.id}/equal-notice.json").get_json()
    assert data["revisions"][0]["first_notice_at"].endswith(".345460+00:00")


def test_an_approver_is_labelled_so_in_the_header(client, login, world, make_user):
    approver = make_user(
        "appr@provider.example", name="Ava Approver", teams=[world.team], approver=True
    )
    db.session.commit()
    page = login(approver).get(f"/certificates/{world.change.id}/tapai").text
    assert "platform engineer · approver" in page
    assert approver.roles == ["platform engineer · approver"]
    assert world.engineer.roles == ["platform engineer"]
