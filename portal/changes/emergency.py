"""The emergency path (DESIGN.md "Emergency path").

A change inside its notice window needs a written justification from its author and approval
by a *different* engineer holding the approver right on the owning team. Approval publishes
it as short notice, opens every affected tenant's gate at the start, and writes a breach
record (and ledger entry) per affected tenant. Rejection records who and why.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from portal.catalog.models import TeamMembership
from portal.changes import approvals
from portal.changes.inputs import ChangeInput
from portal.changes.models import (
    DRAFT,
    PENDING_APPROVAL,
    Change,
    ChangeTenant,
    EmergencyRequest,
    NoticeBreach,
)
from portal.changes.services import NoticeWindowViolation, input_of, publish, run_check
from portal.errors import Conflict, Forbidden, InvalidInput
from portal.extensions import db
from portal.ledger.services import Fact, record, record_many
from portal.notify.models import APPROVAL
from portal.notify.outbox import notify_staff

REQUESTABLE = (DRAFT,)  # the statuses an emergency request may be made from


def may_request(change: Change, check) -> bool:
    """Whether ``request_emergency`` would take a request for ``change`` whose notice check
    (a ``rules.PublishCheck``) is ``check``: a draft that some tenant's notice blocks and no
    blackout window does (the justification and a start still ahead are checked on submit)."""
    return change.status in REQUESTABLE and bool(check.blockers) and not check.blackouts


def awaits_decision(change: Change) -> bool:
    """Whether ``change`` waits for an approver to approve or reject its emergency request."""
    return change.status == PENDING_APPROVAL


def author_barred(user, change: Change) -> bool:
    """The author never decides on their own emergency change (DESIGN.md "Emergency path")."""
    return user.id == change.author_id


def pending_request(change: Change) -> EmergencyRequest | None:
    """The undecided emergency request of ``change``, if any."""
    return db.session.execute(
        select(EmergencyRequest).where(
            EmergencyRequest.change_id == change.id, EmergencyRequest.decision.is_(None)
        )
    ).scalar_one_or_none()


def request_emergency(
    change: Change, justification: str, *, actor, now: dt.datetime
) -> EmergencyRequest:
    """draft → pending approval, with the author's written justification."""
    text = (justification or "").strip()
    if len(text) < 20:
        raise InvalidInput("write a justification of at least 20 characters", field="justification")
    if change.status not in REQUESTABLE:
        raise Conflict(
            f"only a draft can be sent for emergency approval; this one is "
            f"{change.status.replace('_', ' ')}",
            status_now=change.status,
        )
    inp: ChangeInput = input_of(change)
    if inp.starts_at <= now:
        raise Conflict("the start is in the past; reschedule first", field="starts_at")
    _, check = run_check(inp, now)
    if check.blackouts:
        raise NoticeWindowViolation(check)
    if not check.blockers:
        raise Conflict("this change gives every tenant its notice: publish it normally")
    req = EmergencyRequest(
        change_id=change.id,
        justification=text,
        requested_by_id=actor.id,
        requested_at=now,
        decision_reason="",
    )
    db.session.add(req)
    change.status, change.updated_at = PENDING_APPROVAL, now
    db.session.flush()
    record(
        "change.emergency_requested",
        subject_type="change",
        subject_id=change.id,
        change_id=change.id,
        actor=actor,
        now=now,
        payload={
            "request": req.id,
            "justification": text,
            "blocking_tenants": [b.slug for b in check.blockers],
        },
    )
    notify_staff(
        change,
        kind=APPROVAL,
        recipients=approvals.approvers_to_tell(change, actor.id),
        now=now,
        note=approvals.summary_text(change, req, now),
    )
    return req


def may_approve(user, change: Change) -> bool:
    """An approver of the owning team who is not the change's author."""
    if author_barred(user, change):
        return False
    return (
        db.session.execute(
            select(TeamMembership.id).where(
                TeamMembership.team_id == change.team_id,
                TeamMembership.user_id == user.id,
                TeamMembership.is_approver.is_(True),
            )
        ).first()
        is not None
    )


def _decider_check(change: Change, approver) -> EmergencyRequest:
    if not awaits_decision(change):
        raise Conflict("this change is not awaiting emergency approval", status_now=change.status)
    if author_barred(approver, change):
        raise Forbidden(
            "the author cannot approve or reject their own emergency change; "
            "ask another approver of the team"
        )
    if not may_approve(approver, change):
        raise Forbidden("you do not hold the approver right on the team that owns this change")
    req = pending_request(change)
    if req is None:
        raise Conflict("this change has no pending emergency request")
    if req.requested_by_id == approver.id:
        raise Forbidden("you asked for this emergency approval; another approver must decide")
    return req


def approve(change: Change, *, approver, now: dt.datetime, note: str = "") -> EmergencyRequest:
    """Publish as short notice; breach record per affected tenant; gates open at the start."""
    req = _decider_check(change, approver)
    if change.starts_at <= now:
        raise Conflict(
            "the start has passed, so this request can no longer be approved; the requester "
            "must reschedule the change (rejecting it sends it back to draft)",
            field="starts_at",
        )
    revision = publish(change, actor=approver, now=now, short_notice=True)
    req.decision, req.decided_by_id, req.decided_at = "approved", approver.id, now
    req.decision_reason = (note or "").strip()
    db.session.execute(
        update(ChangeTenant)
        .where(ChangeTenant.change_id == change.id)
        .values(emergency_approved_at=now)
        .execution_options(synchronize_session=False)
    )
    rows = db.session.execute(
        select(ChangeTenant.tenant_id, ChangeTenant.required_notice_seconds).where(
            ChangeTenant.change_id == change.id
        )
    ).all()
    given = int((change.starts_at - now).total_seconds())
    db.session.add_all(
        [
            NoticeBreach(
                change_id=change.id,
                tenant_id=tenant_id,
                revision_number=revision.number,
                emergency_request_id=req.id,
                required_notice_seconds=required,
                given_notice_seconds=given,
                justification=req.justification,
                approved_by_id=approver.id,
                created_at=now,
            )
            for tenant_id, required in rows
        ]
    )
    db.session.flush()
    record(
        "change.emergency_approved",
        subject_type="change",
        subject_id=change.id,
        change_id=change.id,
        actor=approver,
        now=now,
        payload={
            "request": req.id,
            "revision": revision.number,
            "note": req.decision_reason,
            "requested_by": req.requested_by_id,
            "breaches": len(rows),
        },
    )
    record_many(
        [
            Fact(
                "change.notice_breach",
                "notice_breach",
                f"{change.id}:{tenant_id}",
                {
                    "revision": revision.number,
                    "required_notice_seconds": required,
                    "given_notice_seconds": given,
                    "justification": req.justification,
                },
                tenant_id=tenant_id,
                change_id=change.id,
            )
            for tenant_id, required in rows
        ],
        actor=approver,
        now=now,
    )
    return req


def reject(change: Change, *, approver, now: dt.datetime, reason: str) -> EmergencyRequest:
    """Back to draft; who rejected it and why are recorded."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("say why the emergency is rejected", field="reason")
    req = _decider_check(change, approver)
    req.decision, req.decided_by_id, req.decided_at, req.decision_reason = (
        "rejected",
        approver.id,
        now,
        text,
    )
    change.status, change.updated_at = DRAFT, now
    db.session.flush()
    record(
        "change.emergency_rejected",
        subject_type="change",
        subject_id=change.id,
        change_id=change.id,
        actor=approver,
        now=now,
        payload={"request": req.id, "reason": text},
    )
    return req


EXPIRED_REASON = "expired: the start passed before anyone decided; reschedule and ask again"


def expire_stale_requests(now: dt.datetime) -> int:
    """Undecided emergency requests whose change's start has passed expire: the request is
    closed as "expired" and the change goes back to draft for its author to reschedule
    (issue #16 item 2). Returns how many expired; flushes; one ledger entry each. Run by the
    worker on every round, so an approver can never approve a change already due."""
    stale = db.session.execute(
        select(EmergencyRequest, Change)
        .join(Change, Change.id == EmergencyRequest.change_id)
        .where(
            EmergencyRequest.decision.is_(None),
            Change.status == PENDING_APPROVAL,
            Change.starts_at <= now,
        )
        .with_for_update(of=Change, skip_locked=True)
    ).all()
    for req, change in stale:
        req.decision, req.decided_at, req.decision_reason = "expired", now, EXPIRED_REASON
        change.status, change.updated_at = DRAFT, now
        record(
            "change.emergency_expired",
            subject_type="change",
            subject_id=change.id,
            change_id=change.id,
            actor="worker",
            now=now,
            payload={"request": req.id, "starts_at": change.starts_at.isoformat()},
        )
    db.session.flush()
    return len(stale)
