"""The notice certificate of one tenant for one change (DESIGN.md "Proof").

Every claim carries the ledger entry that backs it (``{"seq", "hash", "action"}``, or None
when no entry exists), and the certificate states the result of verifying the whole chain at
the moment it was issued. The same dictionary feeds the printable page and the JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

from flask import abort
from sqlalchemy import select

from portal.access import tenant_ids_visible_to
from portal.acks.models import Acknowledgement, Objection, Waiver
from portal.changes import lifecycle
from portal.changes.models import PUBLISHED_STATUSES, Change, ChangeTenant, NoticeBreach, Revision
from portal.changes.queries import can_manage
from portal.extensions import db
from portal.feeds.receipts import receipts_for
from portal.ledger.models import LedgerEntry
from portal.ledger.services import entries_for, verify
from portal.notify.models import OutboxMessage
from portal.tenants.models import Tenant

# Messages to staff about a tenant (escalations, objections) are not notices to the tenant.
INTERNAL_KINDS = ("escalation", "objection")


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def may_see(user, change: Change, tenant: Tenant) -> bool:
    """The tenant's own users, admins, the tenant's account managers and the owning team."""
    if user.is_admin or (user.is_customer and user.tenant_id == tenant.id):
        return True
    if user.is_account_manager and tenant.id in set(
            db.session.execute(tenant_ids_visible_to(user)).scalars()):
        return True
    return user.is_staff and can_manage(user, change)


def subject_or_404(change_id: int, tenant_slug: str, user) -> tuple[Change, Tenant, ChangeTenant]:
    """The published change, the tenant and its notice row, if the user may see them; else 404."""
    row = db.session.execute(
        select(Change, Tenant, ChangeTenant)
        .join(ChangeTenant, ChangeTenant.change_id == Change.id)
        .join(Tenant, Tenant.id == ChangeTenant.tenant_id)
        .where(Change.id == change_id, Tenant.slug == tenant_slug,
               Change.status.in_(PUBLISHED_STATUSES))
    ).one_or_none()
    if row is None or not may_see(user, row[0], row[1]):
        abort(404)
    return row[0], row[1], row[2]


class Evidence:
    """Ledger entries about the change and tenant, found by subject, action or seq."""

    def __init__(self, change_id: int, tenant_id: int, extra_seqs: set[int]):
        entries = entries_for(change_id=change_id, tenant_id=tenant_id)
        self.by_seq = {e.seq: e for e in entries}
        missing = {s for s in extra_seqs if s is not None and s not in self.by_seq}
        if missing:
            self.by_seq.update({e.seq: e for e in db.session.execute(
                select(LedgerEntry).where(LedgerEntry.seq.in_(missing))).scalars()})
        self.by_subject: dict[tuple[str, str], list[LedgerEntry]] = defaultdict(list)
        for entry in sorted(self.by_seq.values(), key=lambda e: e.seq):
            self.by_subject[(entry.subject_type, entry.subject_id)].append(entry)

    @staticmethod
    def cite(entry: LedgerEntry | None) -> dict | None:
        if entry is None:
            return None
        return {"seq": entry.seq, "hash": entry.hash, "action": entry.action, "at": iso(entry.at)}

    def seq(self, seq: int | None) -> dict | None:
        return self.cite(self.by_seq.get(seq)) if seq is not None else None

    def subject(self, subject_type: str, subject_id, *, action: str | None = None,
                revision: int | None = None) -> list[LedgerEntry]:
        found = self.by_subject.get((subject_type, str(subject_id)), [])
        if action is not None:
            found = [e for e in found if e.action == action]
        if revision is not None:
            found = [e for e in found if json.loads(e.payload).get("revision") == revision]
        return found

    def first(self, *args, **kwargs) -> dict | None:
        found = self.subject(*args, **kwargs)
        return self.cite(found[0]) if found else None


def _revisions(change: Change, evidence: Evidence) -> list[dict]:
    rows = db.session.execute(select(Revision).where(Revision.change_id == change.id)
                              .order_by(Revision.number)).scalars()
    return [{"number": r.number, "kind": r.kind, "material": r.material, "summary": r.summary,
             "at": iso(r.created_at),
             "ledger": evidence.first("change", change.id, revision=r.number)} for r in rows]


def _deliveries(change: Change, tenant: Tenant, evidence: Evidence) -> list[dict]:
    rows = db.session.execute(
        select(OutboxMessage).where(OutboxMessage.change_id == change.id,
                                    OutboxMessage.tenant_id == tenant.id,
                                    OutboxMessage.kind.not_in(INTERNAL_KINDS))
        .order_by(OutboxMessage.revision_number, OutboxMessage.id)).scalars()
    return [{"revision": m.revision_number, "kind": m.kind, "recipient": m.recipient,
             "status": m.status, "attempts": m.attempts, "message_id": m.message_id,
             "sent_at": iso(m.sent_at), "failed_at": iso(m.failed_at),
             "smtp_reply": m.smtp_reply, "error": m.last_error,
             "ledger": [Evidence.cite(e) for e in evidence.subject("outbox_message", m.id)]}
            for m in rows]


def _answers(model, change: Change, tenant: Tenant):
    return list(db.session.execute(
        select(model).where(model.change_id == change.id, model.tenant_id == tenant.id)
        .order_by(model.at, model.id)).scalars())


def build(change: Change, tenant: Tenant, ct: ChangeTenant, *, now: dt.datetime,
          issued_to: str) -> dict:
    """The certificate as a plain dictionary (JSON-ready)."""
    acks = _answers(Acknowledgement, change, tenant)
    objections = _answers(Objection, change, tenant)
    waivers = _answers(Waiver, change, tenant)
    receipts = receipts_for(change.id, tenant.id)
    breaches = list(db.session.execute(select(NoticeBreach).where(
        NoticeBreach.change_id == change.id, NoticeBreach.tenant_id == tenant.id)
        .order_by(NoticeBreach.revision_number)).scalars())
    seqs = {a.ledger_seq for a in acks} | {o.ledger_seq for o in objections} | {
        o.answer_ledger_seq for o in objections} | {w.ledger_seq for w in waivers}
    evidence = Evidence(change.id, tenant.id, seqs)
    pair = f"{change.id}:{tenant.id}"
    requirement_entries = [e for e in evidence.subject("change_tenant", pair) if e.action in (
        "change.tenant_notice_required", "change.tenant_clock_restarted")]
    gate = lifecycle.gates(change, now, tenant.id)
    state = gate[0].state if gate else None
    started = evidence.subject("change_tenant", pair, action="change.tenant_started")
    verification = verify()
    return {
        "certificate": {"issued_at": iso(now), "issued_to": issued_to,
                        "change_id": change.id, "tenant": tenant.slug},
        "tenant": {"slug": tenant.slug, "name": tenant.name, "first_party": tenant.first_party},
        "change": {"id": change.id, "title": change.title, "impact": change.impact,
                   "status": change.status, "starts_at": iso(change.starts_at),
                   "ends_at": iso(change.ends_at), "short_notice": change.short_notice,
                   "still_affected": ct.active},
        "required_notice": {
            "seconds": ct.required_notice_seconds, "hours": ct.required_notice_seconds / 3600,
            "basis": json.loads(ct.notice_basis or "[]"), "clock_revision": ct.clock_revision,
            "ledger": Evidence.cite(requirement_entries[-1]) if requirement_entries else None},
        "published": {"at": iso(change.published_at),
                      "ledger": evidence.first("change", change.id, action="change.published")},
        "revisions": _revisions(change, evidence),
        "notice_given": {
            "at": iso(ct.notice_given_at), "revision": ct.clock_revision,
            "ledger": evidence.first("change_tenant", pair, action="notice.given",
                                     revision=ct.clock_revision)},
        "deliveries": _deliveries(change, tenant, evidence),
        "feed_receipts": [{
            "receipt_id": r.receipt_id, "token": f"{r.token_name} ({r.token_prefix}…)",
            "revision": r.revision_number, "formats": r.formats,
            "first_fetched_at": iso(r.first_fetched_at), "last_fetched_at": iso(r.last_fetched_at),
            "fetch_count": r.fetch_count, "user_agent": r.user_agent,
            "ledger": {"seq": r.ledger_seq, "hash": r.ledger_hash, "action": "feed.fetched"}
            if r.ledger_seq else None} for r in receipts],
        "acknowledgements": [{
            "revision": a.revision_number, "counts": a.counts, "channel": a.channel,
            "by": a.actor_label, "at": iso(a.at), "ledger": evidence.seq(a.ledger_seq)}
            for a in acks],
        "objections": [{
            "revision": o.revision_number, "by": o.actor_label, "reason": o.reason,
            "at": iso(o.at), "ledger": evidence.seq(o.ledger_seq), "answer": o.answer,
            "answered_by": o.answered_by_label, "answered_at": iso(o.answered_at),
            "answer_ledger": evidence.seq(o.answer_ledger_seq)} for o in objections],
        "waivers": [{
            "revision": w.revision_number, "channel": w.channel, "agreed_by": w.agreed_by,
            "recorded_by": w.recorded_by_label, "note": w.note, "at": iso(w.at),
            "ledger": evidence.seq(w.ledger_seq)} for w in waivers],
        "breaches": [{
            "revision": b.revision_number, "required_notice_seconds": b.required_notice_seconds,
            "given_notice_seconds": b.given_notice_seconds, "justification": b.justification,
            "at": iso(b.created_at),
            "ledger": evidence.first("notice_breach", pair, revision=b.revision_number)}
            for b in breaches],
        "gate": {
            "open": state.open if state else False,
            "opens_at": iso(state.opens_at) if state else None,
            "reason": state.reason if state else "no longer affected",
            "waived_at": iso(ct.waived_at), "emergency_approved_at": iso(ct.emergency_approved_at),
            "started_at": iso(ct.started_at),
            "ledger": Evidence.cite(started[-1]) if started else None},
        "ledger_verification": {**verification.as_dict(), "verified_at": iso(now)},
    }
