"""Delivering notices to a real SMTP server: headers, both parts, the notice clock."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from portal.changes.models import ChangeTenant
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.notify.models import NOTICE, PENDING, SENT, OutboxMessage
from tests.conftest import T0


def rows(**filters):
    return list(
        db.session.scalars(select(OutboxMessage).filter_by(**filters).order_by(OutboxMessage.id))
    )


def test_publishing_queues_one_row_per_notice_contact_and_sends_nothing(published, sink):
    queued = rows(change_id=published.change.id)
    assert len(queued) == 5
    assert {r.kind for r in queued} == {NOTICE}
    assert {r.status for r in queued} == {PENDING}
    assert sink.received == []
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.action == "notices.queued"))
    assert '"contractual":5' in entry.payload


def test_notice_arrives_with_headers_and_both_parts(published, dispatch, sink):
    result = dispatch()
    assert result.sent == 5 and result.failed == 0
    [msg] = sink.to("ops1@tapai.example")
    assert msg["Subject"] == "Scheduled: Upgrade the fusion model"
    assert msg["From"] == "Forewarn <notices@forewarn.example>"
    assert msg["Message-ID"].startswith(f"<change-{published.change.id}.rev-1.tenant-")
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["List-Unsubscribe"] is None  # contractual: cannot be switched off
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    for part in (text, html):
        assert "Face Fusion API" in part
        assert "Sat 7 Nov 2026 10:00 UTC+1" in part  # Tapai's zone
        assert "09:00 UTC" in part
        assert f"http://portal.test/changes/{published.change.id}" in part
        assert "http://portal.test/ack/" in part
        assert "required" in part
    assert "Degradation" in text or "degradation" in text.lower()


def test_notice_given_at_is_the_servers_acceptance_time_with_its_reply(published, dispatch, clock):
    clock.advance(minutes=3)
    dispatch()
    ct = db.session.scalar(
        select(ChangeTenant).filter_by(change_id=published.change.id, tenant_id=published.tapai.id)
    )
    assert ct.notice_given_at == T0 + dt.timedelta(minutes=3)
    entry = db.session.scalar(
        select(LedgerEntry).where(
            LedgerEntry.action == "notice.given", LedgerEntry.tenant_id == published.tapai.id
        )
    )
    assert entry is not None and '"smtp_reply":"250 2.0.0 Ok: queued as SINK' in entry.payload
    assert all(r.status == SENT and r.smtp_reply.startswith("250") for r in rows())
