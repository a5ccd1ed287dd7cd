"""The notice certificate of one tenant for one change (DESIGN.md "Proof").

Every claim carries the ledger entry that backs it (``{"seq", "hash", "action"}``, or None
when no entry exists), and the certificate states the result of verifying the whole chain at
the moment it was issued. The same dictionary feeds the printable page and the JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from flask import abort
from sqlalchemy import select

from portal.access import tenant_ids_visible_to
from portal.acks.models import Acknowledgement, Objection, Waiver
from portal.certificates import proof
from portal.certificates.evidence import Evidence, iso
from portal.changes import lifecycle
from portal.changes.models import PUBLISHED_STATUSES, Change, ChangeTenant, NoticeBreach, Revision
from portal.changes.queries import can_manage
from portal.changes.serialise import customer_summary
from portal.extensions import db
from portal.feeds.receipts import receipts_for
from portal.notify.models import FAILED, NOTICE, SENT, OutboxMessage
from portal.tenants.models import Tenant

# Messages to staff about a tenant (escalations, objections) are not notices to the tenant.
INTERNAL_KINDS = ("escalation", "objection", "notice_failed")


def may_see(user, change: Change, tenant: Tenant) -> bool:
    """The tenant's own users, admins, the tenant's account managers and the owning team."""
    if user.is_admin or (user.is_customer and user.tenant_id == tenant.id):
        return True
    if user.is_account_manager:
        ids = tenant_ids_visible_to(user)  # None: all of them
        if ids is None or tenant.id in set(db.session.execute(ids).scalars()):
            return True
    return user.is_staff and can_manage(user, change)


def subject_or_404(change_id: int, tenant_slug: str, user) -> tuple[Change, Tenant, ChangeTenant]:
    """The published change, the tenant and its notice row, if the user may see them; else 404."""
    row = db.session.execute(
        select(Change, Tenant, ChangeTenant)
        .join(ChangeTenant, ChangeTenant.change_id == Change.id)
        .join(Tenant, Tenant.id == ChangeTenant.tenant_id)
        .where(
            Change.id == change_id,
            Tenant.slug == tenant_slug,
            Change.status.in_(PUBLISHED_STATUSES),
        )
    ).one_or_none()
    if row is None or not may_see(user, row[0], row[1]):
        abort(404)
    return row[0], row[1], row[2]


def _revisions(change: Change, evidence: Evidence) -> list[dict]:
    rows = db.session.execute(
        select(Revision).where(Revision.change_id == change.id).order_by(Revision.number)
    ).scalars()
    return [
        {
            "number": r.number,
            "kind": r.kind,
            "material": r.material,
            "summary": customer_summary(r.summary),  # certificates go to customers
            "at": iso(r.created_at),
            "ledger": evidence.first("change", change.id, revision=r.number),
        }
        for r in rows
    ]


def _deliveries(change: Change, tenant: Tenant, evidence: Evidence) -> list[dict]:
    rows = list(
        db.session.execute(
            select(OutboxMessage)
            .where(
                OutboxMessage.change_id == change.id,
                OutboxMessage.tenant_id == tenant.id,
                OutboxMessage.kind.not_in(INTERNAL_KINDS),
            )
            .order_by(OutboxMessage.revision_number, OutboxMessage.id)
        ).scalars()
    )
    evidence.load_outbox_entries([m.id for m in rows if m.kind == NOTICE])
    out = []
    for m in rows:
        contractual = m.kind == NOTICE
        cites = evidence.delivery(m) if contractual else []
        if not contractual:
            backing = "optional"
        elif cites:
            backing = "ledger"
        elif m.status in (SENT, FAILED):
            backing = "missing"
        else:
            backing = "no outcome yet"  # queued, sending or retrying: nothing to record yet
        out.append(
            {
                "revision": m.revision_number,
                "kind": m.kind,
                "contractual": contractual,
                "recipient": m.recipient,
                "status": m.status,
                "attempts": m.attempts,
                "message_id": m.message_id,
                "sent_at": iso(m.sent_at),
                "failed_at": iso(m.failed_at),
                "smtp_reply": m.smtp_reply,
                "error": m.last_error,
                "evidence": backing,
                "ledger": cites,
            }
        )
    return out


def _answers(model, change: Change, tenant: Tenant):
    return list(
        db.session.execute(
            select(model)
            .where(model.change_id == change.id, model.tenant_id == tenant.id)
            .order_by(model.at, model.id)
        ).scalars()
    )


def build(
    change: Change,
    tenant: Tenant,
    ct: ChangeTenant,
    *,
    now: dt.datetime,
    issued_to: str,
    since: Sequence[str] = (),
) -> dict:
    """The certificate as a plain dictionary (JSON-ready), with its proof (``proof.attach``:
    cited entries, inclusion proofs, the signed checkpoint, consistency proofs from the
    checkpoints named in ``since``; may issue a checkpoint, so the caller commits). Raises
    ``BadRequest`` for a bad ``since``."""
    acks = _answers(Acknowledgement, change, tenant)
    objections = _answers(Objection, change, tenant)
    waivers = _answers(Waiver, change, tenant)
    receipts = receipts_for(change.id, tenant.id)
    breaches = list(
        db.session.execute(
            select(NoticeBreach)
            .where(NoticeBreach.change_id == change.id, NoticeBreach.tenant_id == tenant.id)
            .order_by(NoticeBreach.revision_number)
        ).scalars()
    )
    seqs = (
        {a.ledger_seq for a in acks}
        | {o.ledger_seq for o in objections}
        | {o.answer_ledger_seq for o in objections}
        | {w.ledger_seq for w in waivers}
    )
    evidence = Evidence(change.id, tenant.id, seqs)
    pair = f"{change.id}:{tenant.id}"
    requirement_entries = [
        e
        for e in evidence.subject("change_tenant", pair)
        if e.action in ("change.tenant_notice_required", "change.tenant_clock_restarted")
    ]
    gate = lifecycle.gates(change, now, tenant.id)
    state = gate[0].state if gate else None
    started = evidence.subject("change_tenant", pair, action="change.tenant_started")
    cert = {
        "certificate": {
            "issued_at": iso(now),
            "issued_to": issued_to,
            "change_id": change.id,
            "tenant": tenant.slug,
        },
        "tenant": {"slug": tenant.slug, "name": tenant.name, "first_party": tenant.first_party},
        "change": {
            "id": change.id,
            "title": change.title,
            "impact": change.impact,
            "status": change.status,
            "starts_at": iso(change.starts_at),
            "ends_at": iso(change.ends_at),
            "short_notice": change.short_notice,
            "still_affected": ct.active,
        },
        "required_notice": {
            "seconds": ct.required_notice_seconds,
            "hours": ct.required_notice_seconds / 3600,
            "basis": json.loads(ct.notice_basis or "[]"),
            "clock_revision": ct.clock_revision,
            "ledger": Evidence.cite(requirement_entries[-1]) if requirement_entries else None,
        },
        "published": {
            "at": iso(change.published_at),
            "ledger": evidence.first("change", change.id, action="change.published"),
        },
        "revisions": _revisions(change, evidence),
        "notice_given": {
            "at": iso(ct.notice_given_at),
            "revision": ct.clock_revision,
            "ledger": _notice_given_entry(evidence, pair, ct),
        },
        "deliveries": _deliveries(change, tenant, evidence),
        "feed_receipts": [
            {
                "receipt_id": r.receipt_id,
                "token": f"{r.token_name} ({r.token_prefix}…)",
                "revision": r.revision_number,
                "formats": r.formats,
                "first_fetched_at": iso(r.first_fetched_at),
                "last_fetched_at": iso(r.last_fetched_at),
                "fetch_count": r.fetch_count,
                "user_agent": r.user_agent,
                "ledger": {"seq": r.ledger_seq, "hash": r.ledger_hash, "action": "feed.fetched"}
                if r.ledger_seq
                else None,
            }
            for r in receipts
        ],
        "acknowledgements": [
            {
                "revision": a.revision_number,
                "counts": a.counts,
                "channel": a.channel,
                "by": a.actor_label,
                "at": iso(a.at),
                "ledger": evidence.seq(a.ledger_seq),
            }
            for a in acks
        ],
        "objections": [
            {
                "revision": o.revision_number,
                "by": o.actor_label,
                "reason": o.reason,
                "at": iso(o.at),
                "ledger": evidence.seq(o.ledger_seq),
                "answer": o.answer,
                "answered_by": o.answered_by_label,
                "answered_at": iso(o.answered_at),
                "answer_ledger": evidence.seq(o.answer_ledger_seq),
            }
            for o in objections
        ],
        "waivers": [
            {
                "revision": w.revision_number,
                "channel": w.channel,
                "agreed_by": w.agreed_by,
                "recorded_by": w.recorded_by_label,
                "note": w.note,
                "at": iso(w.at),
                "ledger": evidence.seq(w.ledger_seq),
            }
            for w in waivers
        ],
        "breaches": [
            {
                "revision": b.revision_number,
                "required_notice_seconds": b.required_notice_seconds,
                "given_notice_seconds": b.given_notice_seconds,
                "justification": b.justification,
                "at": iso(b.created_at),
                "ledger": evidence.first("notice_breach", pair, revision=b.revision_number),
            }
            for b in breaches
        ],
        "gate": {
            "open": state.open if state else False,
            "opens_at": iso(state.opens_at) if state else None,
            "reason": state.reason if state else "no longer affected",
            "waived_at": iso(ct.waived_at),
            "emergency_approved_at": iso(ct.emergency_approved_at),
            "started_at": iso(ct.started_at),
            "ledger": Evidence.cite(started[-1]) if started else None,
        },
    }
    return proof.attach(cert, tenant_id=tenant.id, now=now, since=since)


def _notice_given_entry(evidence: Evidence, pair: str, ct) -> dict | None:
    """The ``notice.given`` entry whose time is the D(t) the certificate shows (there is one
    per revision and tenant, portal/notify/evidence.py; never another entry's time)."""
    shown = iso(ct.notice_given_at)
    for entry in evidence.subject(
        "change_tenant", pair, action="notice.given", revision=ct.clock_revision
    ):
        if json.loads(entry.payload).get("notice_given_at") == shown:
            return Evidence.cite(entry)
    return None
