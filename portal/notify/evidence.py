"""What a batch's deliveries prove: each tenant's "notice given at", and ledger entries.

Notice given at, D(t), is the time the SMTP server accepted the first message of the tenant's
clock revision (``ChangeTenant.clock_revision``) to one of its notice contacts (DESIGN.md
"Core concepts"). It is written once, never moved later, and recorded in the ledger with the
server's reply, the recipient and the Message-ID; so is every contractual delivery and failure.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select, update

from portal.changes.models import ChangeTenant
from portal.extensions import db
from portal.ledger.services import Fact, record_many
from portal.notify.models import FAILED, NOTICE, SENT, OutboxMessage


def _delivery_fact(action: str, row: OutboxMessage, outcome: dict) -> Fact:
    payload = {"revision": row.revision_number, "recipient": row.recipient,
               "message_id": outcome["message_id"], "attempts": outcome["attempts"]}
    if action == "notice.delivered":
        payload |= {"accepted_at": outcome["sent_at"], "smtp_reply": outcome["smtp_reply"]}
    else:
        payload |= {"failed_at": outcome["failed_at"], "error": outcome["last_error"]}
    return Fact(action, "outbox_message", row.id, payload, tenant_id=row.tenant_id,
                change_id=row.change_id)


def record_batch(rows: list[OutboxMessage], outcomes: dict[int, dict], *,
                 now: dt.datetime) -> None:
    """Set notice-given times the batch earned and append the ledger entries. Flushes."""
    by_id = {r.id: r for r in rows}
    facts: list[Fact] = []
    firsts: dict[tuple[int, int, int], tuple[dict, OutboxMessage]] = {}
    for oid, outcome in outcomes.items():
        row = by_id[oid]
        if row.kind != NOTICE or row.tenant_id is None:
            continue
        if outcome["status"] == SENT:
            facts.append(_delivery_fact("notice.delivered", row, outcome))
            key = (row.change_id, row.tenant_id, row.revision_number)
            current = firsts.get(key)
            if current is None or outcome["sent_at"] < current[0]["sent_at"]:
                firsts[key] = (outcome, row)
        elif outcome["status"] == FAILED:
            facts.append(_delivery_fact("notice.failed", row, outcome))
    for (change_id, tenant_id, revision), (outcome, row) in sorted(firsts.items()):
        given_at = outcome["sent_at"]
        result = db.session.execute(
            update(ChangeTenant).where(
                ChangeTenant.change_id == change_id, ChangeTenant.tenant_id == tenant_id,
                ChangeTenant.clock_revision == revision,
                or_(ChangeTenant.notice_given_at.is_(None),
                    ChangeTenant.notice_given_at > given_at))
            .values(notice_given_at=given_at).execution_options(synchronize_session=False))
        if result.rowcount:
            facts.append(Fact("notice.given", "change_tenant", f"{change_id}:{tenant_id}", {
                "revision": revision, "notice_given_at": given_at, "recipient": row.recipient,
                "message_id": outcome["message_id"], "smtp_reply": outcome["smtp_reply"]},
                tenant_id=tenant_id, change_id=change_id))
    record_many(facts, actor="dispatcher", now=now)


def notice_given(change_id: int, tenant_id: int) -> dt.datetime | None:
    """D(t) of the tenant for the change's clock revision (None until delivered)."""
    return db.session.scalar(select(ChangeTenant.notice_given_at).where(and_(
        ChangeTenant.change_id == change_id, ChangeTenant.tenant_id == tenant_id)))
