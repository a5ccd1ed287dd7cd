"""Notice certificates: contents backed by ledger ids and hashes, chain verification at issue
(including a tampered ledger), and who may see them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from portal.acks.models import CHANNEL_PORTAL
from portal.acks.services import acknowledge, object_to, waive
from portal.auth.services import issue_token
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from tests.conftest import T0
from tests.desk.conftest import deliver


@pytest.fixture
def answered(world):
    w = world
    deliver(w.change, w.tapai, T0 + dt.timedelta(minutes=1))
    acknowledge(
        w.change,
        w.tapai.id,
        now=T0 + dt.timedelta(hours=1),
        channel=CHANNEL_PORTAL,
        user=w.tapai_user,
    )
    object_to(
        w.change,
        w.tapai.id,
        user=w.tapai_user,
        reason="Please wait a week",
        now=T0 + dt.timedelta(hours=2),
    )
    waive(
        w.change,
        w.tapai.id,
        user=w.tapai_admin,
        now=T0 + dt.timedelta(hours=3),
        channel=CHANNEL_PORTAL,
    )
    db.session.commit()
    return w


def _entry(seq):
    return db.session.execute(select(LedgerEntry).where(LedgerEntry.seq == seq)).scalar_one()


def _assert_backed(claim, action=None):
    assert claim is not None, "claim has no ledger evidence"
    entry = _entry(claim["seq"])
    assert entry.hash == claim["hash"]
    if action:
        assert entry.action == action


def test_certificate_json_backs_every_claim_with_ledger_entries(client, login, answered):
    w = answered
    r = login(w.tapai_user).get(f"/certificates/{w.change.id}/tapai.json")
    assert r.status_code == 200
    cert = r.get_json()
    assert cert["tenant"]["slug"] == "tapai"
    assert cert["required_notice"]["seconds"] == 72 * 3600
    assert cert["required_notice"]["basis"], "the basis says where the notice came from"
    _assert_backed(cert["required_notice"]["ledger"], "change.tenant_notice_required")
    assert cert["published"]["at"] == T0.isoformat()
    _assert_backed(cert["published"]["ledger"], "change.published")
    assert [r["number"] for r in cert["revisions"]] == [1]
    _assert_backed(cert["revisions"][0]["ledger"])
    assert len(cert["deliveries"]) == 2  # Tapai has two notice contacts
    for d in cert["deliveries"]:
        assert d["smtp_reply"].startswith("250 2.0.0 Ok")
        _assert_backed(d["ledger"][0], "notice.delivered")
    _assert_backed(cert["notice_given"]["ledger"], "notice.given")
    ack = cert["acknowledgements"][0]
    assert ack["by"].startswith("Tom Tapai") and ack["counts"]
    _assert_backed(ack["ledger"], "ack.recorded")
    _assert_backed(cert["objections"][0]["ledger"])
    assert cert["objections"][0]["reason"] == "Please wait a week"
    _assert_backed(cert["waivers"][0]["ledger"])
    assert cert["breaches"] == []
    assert cert["gate"]["waived_at"] is not None
    assert cert["ledger_verification"]["ok"] is True
    assert cert["ledger_verification"]["entries"] >= 8
    assert r.headers["Cache-Control"] == "private, no-store"


def test_certificate_page_is_printable_and_shows_hashes(client, login, answered):
    w = answered
    r = login(w.am).get(f"/certificates/{w.change.id}/tapai")
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "@media print" in body
    assert "Ledger verified at issue" in body
    published = db.session.execute(
        select(LedgerEntry).where(LedgerEntry.action == "change.published")
    ).scalar_one()
    assert published.hash in body and f"ledger #{published.seq}" in body
    assert "250 2.0.0 Ok: queued as 4F2A" in body


def test_tampered_ledger_shows_as_broken(client, login, answered):
    w = answered
    ack_seq = db.session.execute(
        select(LedgerEntry.seq).where(LedgerEntry.action == "ack.recorded")
    ).scalar_one()
    db.session.execute(
        update(LedgerEntry).where(LedgerEntry.seq == ack_seq).values(actor_label="Someone Else")
    )
    db.session.commit()
    cert = login(w.tapai_user).get(f"/certificates/{w.change.id}/tapai.json").get_json()
    assert cert["ledger_verification"]["ok"] is False
    assert cert["ledger_verification"]["broken_seq"] == ack_seq
    body = client.get(f"/certificates/{w.change.id}/tapai").get_data(as_text=True)
    assert "LEDGER BROKEN" in body


def test_certificate_records_breach_with_ledger(client, login, world):
    from portal.changes.models import NoticeBreach
    from portal.ledger.services import record

    w = world
    db.session.add(
        NoticeBreach(
            change_id=w.change.id,
            tenant_id=w.tapai.id,
            revision_number=1,
            required_notice_seconds=72 * 3600,
            given_notice_seconds=3600,
            justification="security fix",
            created_at=T0,
        )
    )
    record(
        "change.notice_breach",
        subject_type="notice_breach",
        subject_id=f"{w.change.id}:{w.tapai.id}",
        tenant_id=w.tapai.id,
        change_id=w.change.id,
        now=T0,
        payload={"revision": 1, "justification": "security fix"},
    )
    db.session.commit()
    cert = login(w.am).get(f"/certificates/{w.change.id}/tapai.json").get_json()
    assert cert["breaches"][0]["justification"] == "security fix"
    _assert_backed(cert["breaches"][0]["ledger"], "change.notice_breach")


@pytest.mark.parametrize(
    "who,status",
    [
        ("tapai_user", 200),
        ("tapai_admin", 200),
        ("am", 200),
        ("engineer", 200),
        ("ptu_user", 404),
        ("other_user", 404),
        ("other_am", 404),
        ("outsider_engineer", 404),
    ],
)
def test_certificate_visibility(client, login, world, who, status):
    r = login(getattr(world, who)).get(f"/certificates/{world.change.id}/tapai.json")
    assert r.status_code == status


def test_admin_sees_any_certificate_and_unknowns_are_404(client, login, world, admin_user):
    c = login(admin_user)
    assert c.get(f"/certificates/{world.change.id}/other").status_code == 200
    assert c.get(f"/certificates/{world.change.id}/nobody").status_code == 404
    assert c.get("/certificates/999999/tapai").status_code == 404


def test_draft_change_has_no_certificate(client, login, world, admin_user, make_change):
    draft = make_change(
        services=[world.service], author=world.engineer, starts_at=T0 + dt.timedelta(days=20)
    )
    db.session.commit()
    assert login(admin_user).get(f"/certificates/{draft.id}/tapai").status_code == 404


def test_certificate_through_the_api(client, world):
    _, secret = issue_token(world.tapai_user, "cert", now=T0, days=1)
    _, other = issue_token(world.ptu_user, "cert", now=T0, days=1)
    db.session.commit()
    url = f"/api/v1/changes/{world.change.id}/certificates/tapai"
    r = client.get(url, headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200 and r.get_json()["tenant"]["slug"] == "tapai"
    r = client.get(url, headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 404 and r.get_json()["error"]["status"] == 404
