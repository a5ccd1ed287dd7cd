"""Notice and answers per (change, tenant), loaded for many pairs at once.

``load`` runs a fixed number of statements (one per kind of evidence) however many pairs it
is asked about, so the desk's pages cost the same SQL for 100 tenants as for 10,000.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import select

from portal.acks.models import Acknowledgement, Objection, Waiver
from portal.changes import rules
from portal.changes.models import IN_PROGRESS, SCHEDULED, NoticeBreach
from portal.extensions import db
from portal.notify.models import FAILED, NOTICE, SENT, OutboxMessage
from portal.notify.status import LABELS, notice_state

Pair = tuple[int, int]  # (change_id, tenant_id)


@dataclass
class Delivery:
    """How the notice of the tenant's current material revision fared, as decided and worded
    by ``portal.notify.status.notice_state`` (the one place that decides it)."""

    state: str  # delivered | failed | retrying | queued | no_contact
    at: dt.datetime | None = None
    reason: str = ""
    smtp_reply: str = ""
    attempts: int = 0  # the most attempts any one contact's message has had
    contacts: int = 0
    failed: int = 0
    retrying: int = 0

    @property
    def label(self) -> str:
        return LABELS[self.state]

    @property
    def partly_bounced(self) -> bool:
        return self.state == "delivered" and self.failed > 0


@dataclass
class PairEvidence:
    """Everything the desk shows for one tenant of one change."""

    outbox: list[OutboxMessage] = field(default_factory=list)
    acks: list[Acknowledgement] = field(default_factory=list)
    objections: list[Objection] = field(default_factory=list)
    waivers: list[Waiver] = field(default_factory=list)
    breaches: list[NoticeBreach] = field(default_factory=list)


def load(
    change_ids: Iterable[int], tenant_ids: Iterable[int], pairs: Iterable[Pair]
) -> dict[Pair, PairEvidence]:
    """Evidence for ``pairs``; ``change_ids`` and ``tenant_ids`` bound the five queries."""
    wanted = set(pairs)
    found: dict[Pair, PairEvidence] = {p: PairEvidence() for p in wanted}
    change_ids, tenant_ids = sorted(set(change_ids)), sorted(set(tenant_ids))
    if not wanted:
        return found
    # (model, PairEvidence list, extra WHERE, ORDER BY): each model has change_id and tenant_id.
    sources: tuple[tuple[type[Any], str, tuple[Any, ...], tuple[Any, ...]], ...] = (
        (
            OutboxMessage,
            "outbox",
            (OutboxMessage.kind == NOTICE,),
            (OutboxMessage.revision_number, OutboxMessage.sent_at, OutboxMessage.id),
        ),
        (Acknowledgement, "acks", (), (Acknowledgement.at, Acknowledgement.id)),
        (Objection, "objections", (), (Objection.at, Objection.id)),
        (Waiver, "waivers", (), (Waiver.at, Waiver.id)),
        (NoticeBreach, "breaches", (), (NoticeBreach.created_at, NoticeBreach.id)),
    )
    for model, attr, extra, order in sources:
        rows = db.session.execute(
            select(model)
            .where(model.change_id.in_(change_ids), model.tenant_id.in_(tenant_ids), *extra)
            .order_by(*order)
        ).scalars()
        for row in rows:
            bucket = found.get((row.change_id, row.tenant_id))
            if bucket is not None:
                getattr(bucket, attr).append(row)
    return found


def delivery_of(
    evidence: PairEvidence, clock_revision: int, notice_given_at: dt.datetime | None
) -> Delivery:
    """The state of the notice for ``clock_revision`` (DESIGN.md "Notice"), decided by
    ``notice_state`` from the tenant's notice rows of that revision."""
    rows = [m for m in evidence.outbox if m.revision_number == clock_revision]
    sent = sorted(
        ((m.sent_at, m) for m in rows if m.status == SENT and m.sent_at), key=itemgetter(0)
    )
    failed = [m for m in rows if m.status == FAILED]
    waiting = [m for m in rows if m.status not in (SENT, FAILED)]
    errors = [m.last_error for m in waiting if m.attempts and m.last_error]
    decided = notice_state(
        notice_given_at=notice_given_at,
        sent=len([m for m in rows if m.status == SENT]),
        waiting=len(waiting),
        failed=len(failed),
        retrying=len([m for m in waiting if m.attempts]),
        failures=[(m.recipient, m.last_error or "failed") for m in failed],
        retry_error=errors[-1] if errors else None,
    )
    first = sent[0][1] if sent else None
    reply = first.smtp_reply if first else (failed[-1].smtp_reply if failed else "")
    at = notice_given_at or (first.sent_at if first else None)
    return Delivery(
        decided.state,
        at if decided.state == "delivered" else None,
        reason=decided.reason,
        smtp_reply=reply or "",
        attempts=max((m.attempts for m in rows), default=0),
        contacts=decided.contacts,
        failed=decided.failed,
        retrying=decided.retrying,
    )


def counted_ack(evidence: PairEvidence, clock_revision: int) -> Acknowledgement | None:
    """The acknowledgement that counts for the current material revision, if any."""
    return next(
        (a for a in evidence.acks if a.counts and a.revision_number == clock_revision), None
    )


def gate_state(
    *,
    status: str,
    starts_at: dt.datetime,
    required_seconds: int,
    notice_given_at: dt.datetime | None,
    waived_at: dt.datetime | None,
    emergency_approved_at: dt.datetime | None,
    delivery: Delivery,
    now: dt.datetime,
) -> rules.GateState:
    """The tenant's gate, decided by ``rules.gate_for`` (the one place that decides it)."""
    if status not in (SCHEDULED, IN_PROGRESS):
        return rules.GateState(False, None, f"change is {status.replace('_', ' ')}")
    problem = delivery.reason if delivery.state != "delivered" else None
    return rules.gate_for(
        starts_at=starts_at,
        required_seconds=required_seconds,
        now=now,
        notice_given_at=notice_given_at,
        waived_at=waived_at,
        emergency_approved_at=emergency_approved_at,
        delivery_problem=problem,
    )
