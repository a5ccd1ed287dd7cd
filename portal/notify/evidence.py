"""What a batch's deliveries prove: each tenant's "notice given at", and ledger entries.

Notice given at, D(t), is the time the SMTP server accepted the first message of the tenant's
clock revision (``ChangeTenant.clock_revision``) to one of its notice contacts (DESIGN.md
"Core concepts"). It is written exactly once per (revision, tenant), by the first batch to
commit an acceptance, under a row lock on the tenant's ``change_tenants`` row (so two workers
can never both write it), and recorded in the ledger (``notice.given``, one entry) with the
server's reply, the recipient and the Message-ID; so is every contractual delivery and failure
(listed, with its outbox id, in one entry per tenant and batch).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select, update

from portal.changes.models import ChangeTenant
from portal.extensions import db
from portal.ledger.services import Fact, record_many
from portal.notify.models import FAILED, NOTICE, SENT, OutboxMessage


def _delivery_item(row, outcome: dict) -> dict:
    """One contractual delivery or failure, as listed in its tenant's ledger entry."""
    item = {
        "outbox_id": row.id,
        "recipient": row.recipient,
        "message_id": outcome["message_id"],
        "attempts": outcome["attempts"],
    }
    if outcome["status"] == SENT:
        return item | {"accepted_at": outcome["sent_at"], "smtp_reply": outcome["smtp_reply"]}
    return item | {"failed_at": outcome["failed_at"], "error": outcome["last_error"]}


def delivery_facts(rows, outcomes: dict[int, dict]) -> list[Fact]:
    """``notice.delivered`` / ``notice.failed`` per tenant and revision in this batch, listing
    each contractual message (outbox id, recipient, Message-ID, the server's answer) in order.
    The notice certificate finds a delivery's evidence by its outbox id in these lists
    (portal/certificates/evidence.py): one entry per tenant instead of one per contact keeps
    the hash chain's cost off the dispatcher's per-message path."""
    by_id = {r.id: r for r in rows}
    grouped: dict[tuple[str, int, int, int], list[dict]] = {}
    for oid, outcome in outcomes.items():
        row = by_id[oid]
        if row.kind != NOTICE or row.tenant_id is None or outcome["status"] not in (SENT, FAILED):
            continue
        action = "notice.delivered" if outcome["status"] == SENT else "notice.failed"
        key = (action, row.change_id, row.tenant_id, row.revision_number)
        grouped.setdefault(key, []).append(_delivery_item(row, outcome))
    return [
        Fact(
            action,
            "change_tenant",
            f"{change_id}:{tenant_id}",
            {"revision": revision, "deliveries": items},
            tenant_id=tenant_id,
            change_id=change_id,
        )
        for (action, change_id, tenant_id, revision), items in grouped.items()
    ]


def record_batch(rows, outcomes: dict[int, dict], *, now: dt.datetime) -> None:
    """Set the notice-given times the batch earned and append the ledger entries: the
    contractual deliveries and failures (``delivery_facts``), and ``notice.given`` per tenant
    whose D(t) it set."""
    by_id = {r.id: r for r in rows}
    facts = delivery_facts(rows, outcomes)
    firsts: dict[tuple[int, int, int], tuple[dict, OutboxMessage]] = {}
    for oid, outcome in outcomes.items():
        row = by_id[oid]
        if row.kind != NOTICE or row.tenant_id is None or outcome["status"] != SENT:
            continue
        key = (row.change_id, row.tenant_id, row.revision_number)
        if key not in firsts or outcome["sent_at"] < firsts[key][0]["sent_at"]:
            firsts[key] = (outcome, row)
    for key in sorted(_set_notice_given({k: o["sent_at"] for k, (o, _r) in firsts.items()})):
        outcome, row = firsts[key]
        change_id, tenant_id, revision = key
        facts.append(
            Fact(
                "notice.given",
                "change_tenant",
                f"{change_id}:{tenant_id}",
                {
                    "revision": revision,
                    "notice_given_at": outcome["sent_at"],
                    "recipient": row.recipient,
                    "message_id": outcome["message_id"],
                    "smtp_reply": outcome["smtp_reply"],
                },
                tenant_id=tenant_id,
                change_id=change_id,
            )
        )
    record_many(facts, actor="dispatcher", now=now)


def _set_notice_given(firsts: dict[tuple[int, int, int], dt.datetime]) -> set[tuple[int, int, int]]:
    """Write D(t) where this batch delivered the first accepted message of the tenant's clock
    revision and no D(t) is recorded yet; returns the (change, tenant, revision) keys it set.

    The tenant rows are locked (``SELECT … FOR UPDATE``, in key order so that workers never
    deadlock) before they are read: a second worker's batch waits for the first's commit, then
    sees its D(t) and leaves it, so each (revision, tenant) gets one D(t) and one
    ``notice.given`` entry; the first acceptance recorded wins and is never moved.
    """
    if not firsts:
        return set()
    change_ids = {k[0] for k in firsts}
    candidates = db.session.execute(
        select(
            ChangeTenant.change_id,
            ChangeTenant.tenant_id,
            ChangeTenant.clock_revision,
            ChangeTenant.notice_given_at,
        )
        .where(
            ChangeTenant.change_id.in_(change_ids),
            ChangeTenant.tenant_id.in_({k[1] for k in firsts}),
            ChangeTenant.notice_given_at.is_(None),
        )
        .order_by(ChangeTenant.change_id, ChangeTenant.tenant_id)
        .with_for_update()
    )
    wanted = [
        (key, firsts[key])
        for c, t, rev, at in candidates
        if (key := (c, t, rev)) in firsts and at is None
    ]
    if wanted:
        stmt = (
            update(ChangeTenant)
            .where(
                ChangeTenant.change_id == bindparam("c"),
                ChangeTenant.tenant_id == bindparam("t"),
                ChangeTenant.clock_revision == bindparam("r"),
                ChangeTenant.notice_given_at.is_(None),
            )
            .values(notice_given_at=bindparam("at"))
        )
        db.session.connection().execute(
            stmt, [{"c": c, "t": t, "r": r, "at": at} for (c, t, r), at in wanted]
        )
    return {key for key, _ in wanted}
