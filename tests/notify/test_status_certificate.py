"""The notice certificate after a real dispatch to a real SMTP server: every contractual
delivery cites its ledger entry (seq and hash), optional copies are marked as not part of the
contractual notice, and times read in the viewer's zone with UTC alongside."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.changes.services import publish
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.notify.models import NOTICE, SUBSCRIPTION, EmailPreference
from tests.conftest import T0


def _entry(seq: int) -> LedgerEntry:
    return db.session.execute(select(LedgerEntry).where(LedgerEntry.seq == seq)).scalar_one()


def _publish_with_an_optional_copy(world, make_user):
    viewer = make_user(
        "ann@tapai.example", tenant=world.tapai, name="Ann Tapai", time_zone="Asia/Taipei"
    )
    db.session.add(
        EmailPreference(
            user_id=viewer.id, tenant_id=world.tapai.id, min_impact="maintenance", all_services=True
        )
    )
    publish(world.change, actor=world.engineer, now=T0)
    db.session.commit()
    return viewer


def test_every_contractual_delivery_cites_its_ledger_entry_after_a_real_dispatch(
    world, make_user, login, dispatch, sink
):
    viewer = _publish_with_an_optional_copy(world, make_user)
    dispatch()
    assert len(sink.to("ann@tapai.example")) == 1  # the opted-in user's optional copy
    cert = login(viewer).get(f"/certificates/{world.change.id}/tapai.json").get_json()
    notices = [d for d in cert["deliveries"] if d["kind"] == NOTICE]
    optional = [d for d in cert["deliveries"] if d["kind"] == SUBSCRIPTION]
    assert len(notices) == 2 and len(optional) == 1
    for d in notices:
        assert d["contractual"] and d["evidence"] == "ledger" and d["status"] == "sent"
        assert d["smtp_reply"].startswith("250 2.0.0 Ok: queued as SINK")
        (cite,) = d["ledger"]
        entry = _entry(cite["seq"])
        assert entry.hash == cite["hash"] and entry.action == "notice.delivered"
        assert d["recipient"] in entry.payload and d["message_id"] in entry.payload
    (copy,) = optional
    assert copy["contractual"] is False and copy["evidence"] == "optional"
    assert copy["ledger"] == [] and copy["status"] == "sent"
    assert cert["notice_given"]["ledger"]["action"] == "notice.given"
    # The JSON keeps ISO-8601 UTC with full precision.
    assert cert["notice_given"]["at"].endswith("+00:00")

    page = login(viewer).get(f"/certificates/{world.change.id}/tapai").text
    assert "optional, not part of the contractual notice" in page
    assert "no ledger entry" not in page
    for d in notices:
        assert f"ledger #{d['ledger'][0]['seq']}" in page and d["ledger"][0]["hash"] in page


def test_certificate_times_are_in_the_viewers_zone_with_utc(
    world, make_user, login, dispatch, sink
):
    viewer = _publish_with_an_optional_copy(world, make_user)
    dispatch()
    page = login(viewer).get(f"/certificates/{world.change.id}/tapai").text
    assert not re.search(r"\d\d:\d\d:\d\d\.\d{6}", page), "raw timestamps with microseconds"
    assert "+00:00 UTC" not in page
    # T0 is 09:00 UTC, 17:00 in Taipei: the publish time reads in both.
    assert "17:00 UTC+8 (09:00 UTC)" in page
    assert f'datetime="{T0.isoformat()}"' in page


def test_a_notice_still_queued_is_shown_as_no_outcome_yet(world, make_user, login, smtp_server):
    viewer = _publish_with_an_optional_copy(world, make_user)
    cert = login(viewer).get(f"/certificates/{world.change.id}/tapai.json").get_json()
    notices = [d for d in cert["deliveries"] if d["kind"] == NOTICE]
    assert notices and all(d["evidence"] == "no outcome yet" for d in notices)
    page = login(viewer).get(f"/certificates/{world.change.id}/tapai").text
    assert "no outcome yet" in page and "no ledger entry" not in page


def test_a_permanent_failure_cites_its_notice_failed_entry(world, make_user, login, dispatch, sink):
    viewer = _publish_with_an_optional_copy(world, make_user)
    contact = sorted(c.email for c in world.tapai.contacts)[0]
    sink.replies[contact.lower()] = ["550 5.1.1 mailbox unavailable"]
    dispatch()
    cert = login(viewer).get(f"/certificates/{world.change.id}/tapai.json").get_json()
    (failed,) = [d for d in cert["deliveries"] if d["recipient"] == contact]
    assert failed["status"] == "failed" and "550" in failed["error"]
    (cite,) = failed["ledger"]
    assert _entry(cite["seq"]).action == "notice.failed"
