"""Creating, previewing, publishing and revising changes (DESIGN.md "The notice window").

Services take plain arguments (the acting user, ``now``), flush, record ledger entries in the
same transaction and call ``announce`` for every published transition; the caller commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import insert, select

from portal import hooks
from portal.changes import rules
from portal.changes.inputs import ChangeInput
from portal.changes.models import (
    DRAFT,
    EDITABLE,
    PENDING_APPROVAL,
    SCHEDULED,
    Change,
    ChangeTarget,
    ChangeTenant,
    ImpactLevel,
    Revision,
)
from portal.changes.notice import NoticePlan, blackouts_overlapping, current_targets, plan_notice
from portal.changes.reach import lock_change, tenant_rows, unreached
from portal.errors import Conflict
from portal.extensions import db
from portal.ledger.services import Fact, canonical_json, record, record_many


class NoticeWindowViolation(Conflict):
    """The start gives some affected tenant less notice than it is owed, or hits a blackout."""

    def __init__(self, check: rules.PublishCheck):
        parts = []
        if check.blockers:
            names = ", ".join(
                f"{b.name} (needs {b.required_seconds // 3600} h)" for b in check.blockers[:10]
            )
            more = len(check.blockers) - 10
            parts.append(
                f"not enough notice for {names}{f' and {more} more' if more > 0 else ''}"
                f"; earliest allowed start {check.earliest_start:%Y-%m-%d %H:%M} UTC"
            )
        if check.blackouts:
            parts.append(
                "overlaps blackout window(s): "
                + ", ".join(
                    f"{w.tenant_slug or 'provider-wide'} {w.starts_at:%Y-%m-%d %H:%M}–"
                    f"{w.ends_at:%Y-%m-%d %H:%M} UTC"
                    for w in check.blackouts
                )
            )
        super().__init__(
            "Refused: " + "; ".join(parts),
            blocking_tenants=[b.as_dict() for b in check.blockers],
            earliest_allowed_start=check.earliest_start.astimezone(dt.UTC).isoformat(),
            blackout_conflicts=[w.as_dict() for w in check.blackouts],
        )
        self.check = check


@dataclass
class Preview:
    """What the form shows before submitting (and the API's preview endpoint returns)."""

    plan: NoticePlan
    check: rules.PublishCheck
    classification: rules.Classification | None = None

    def as_dict(self) -> dict:
        strictest = self.check.strictest
        data: dict[str, Any] = {
            "affected_tenants": len(self.plan.tenants),
            "strictest": None
            if strictest is None
            else {
                "tenant": strictest.slug,
                "name": strictest.name,
                "required_notice_seconds": strictest.seconds,
                "basis": list(strictest.basis),
            },
            "policy_notice_seconds": self.plan.impact_notice_seconds,
            "earliest_allowed_start": self.check.earliest_start.astimezone(dt.UTC).isoformat(),
            "publishable": self.check.ok,
            "blocking_tenants": [b.as_dict() for b in self.check.blockers],
            "blackout_conflicts": [w.as_dict() for w in self.check.blackouts],
        }
        if self.classification is not None:
            data["material"] = self.classification.material
            data["material_reasons"] = list(self.classification.reasons)
        return data


def margin_seconds() -> int:
    return int(current_app.config["DISPATCH_MARGIN_SECONDS"])


def run_check(inp: ChangeInput, now: dt.datetime) -> tuple[NoticePlan, rules.PublishCheck]:
    """The publish check for ``inp`` as if published at ``now``."""
    plan = plan_notice(inp.impact, inp.targets)
    check = rules.check_publish(
        published_at=now,
        starts_at=inp.starts_at,
        ends_at=inp.ends_at,
        tenants=plan.tenants,
        margin_seconds=margin_seconds(),
        base_notice_seconds=plan.impact_notice_seconds,
        blackouts=blackouts_overlapping(inp.starts_at, inp.ends_at, inp.targets),
    )
    return plan, check


def preview(inp: ChangeInput, now: dt.datetime, change: Change | None = None) -> Preview:
    """Affected count, strictest requirement, earliest start, blackouts, and for a published
    change whether the edit would be material."""
    plan, check = run_check(inp, now)
    classification = None
    if change is not None and change.is_published:
        classification = classify(change, inp, plan)
        check = concerned_check(check, classification.concerned(plan.by_tenant))
    return Preview(plan, check, classification)


def input_of(change: Change) -> ChangeInput:
    """The change's current content as a ``ChangeInput``."""
    return ChangeInput(
        change.title,
        change.body_md,
        change.impact,
        change.starts_at,
        change.ends_at,
        current_targets(change),
        change.team_id,
        change.ack_required,
        change.visibility,
        change.customer_action or "",
        change.act_by,
    )


def snapshot(change: Change) -> str:
    """Canonical JSON of the change's content, kept on every revision."""
    return canonical_json(
        {
            "title": change.title,
            "body_md": change.body_md,
            "impact": change.impact,
            "starts_at": change.starts_at,
            "ends_at": change.ends_at,
            "ack_required": change.ack_required,
            "visibility": change.visibility,
            "customer_action": change.customer_action or "",
            "act_by": change.act_by,
            "targets": [
                {"service": t.service.slug, "component": t.component.slug if t.component else None}
                for t in sorted(change.targets, key=lambda t: t.id or 0)
            ],
        }
    )


def _apply(change: Change, inp: ChangeInput) -> None:
    change.title, change.body_md, change.impact = inp.title, inp.body_md, inp.impact
    change.starts_at, change.ends_at = inp.starts_at, inp.ends_at
    change.ack_required, change.visibility, change.team_id = (
        inp.ack_required,
        inp.visibility,
        inp.team_id,
    )
    change.customer_action, change.act_by = inp.customer_action, inp.act_by
    wanted = set(inp.targets)
    for target in list(change.targets):
        if (target.service_id, target.component_id) not in wanted:
            change.targets.remove(target)
    have = {(t.service_id, t.component_id) for t in change.targets}
    for service_id, component_id in inp.targets:
        if (service_id, component_id) not in have:
            change.targets.append(ChangeTarget(service_id=service_id, component_id=component_id))
    db.session.flush()
    for target in change.targets:
        db.session.refresh(target)


def create_change(inp: ChangeInput, *, author, now: dt.datetime) -> Change:
    """A new draft change (invisible to every tenant until published)."""
    change = Change(
        team_id=inp.team_id,
        author_id=author.id,
        title=inp.title,
        body_md="",
        impact=inp.impact,
        starts_at=inp.starts_at,
        ends_at=inp.ends_at,
        status=DRAFT,
        created_at=now,
        updated_at=now,
    )
    db.session.add(change)
    _apply(change, inp)
    record(
        "change.created",
        subject_type="change",
        subject_id=change.id,
        change_id=change.id,
        actor=author,
        now=now,
        payload={"title": change.title, "status": DRAFT},
    )
    return change


def new_revision(
    change: Change, kind: str, *, actor, now: dt.datetime, material: bool = False, summary: str = ""
) -> Revision:
    """Add the next revision row (after the change's state is set) and flush it."""
    change.revision_number += 1
    if material:
        change.material_revision_number = change.revision_number
    revision = Revision(
        change_id=change.id,
        number=change.revision_number,
        kind=kind,
        material=material,
        summary=summary,
        snapshot=snapshot(change),
        author_id=getattr(actor, "id", None),
        created_at=now,
    )
    db.session.add(revision)
    change.updated_at = now
    db.session.flush()
    return revision


def announce(
    change: Change, revision: Revision, now: dt.datetime, dropped: Sequence[int] = ()
) -> None:
    """Hand the revision to delivery (outbox rows; "no longer affects you" to the
    ``dropped`` tenants) and to the feeds (their versions move), in this same transaction,
    through the ``change_announced`` hook (``portal.subscriptions`` connects
    ``portal.notify.announce.announce`` and ``portal.feeds.versions.bump_for_change``)."""
    hooks.change_announced.call(change, revision, now=now, dropped=dropped)


def _tenant_row(change: Change, t: rules.TenantRequirement, revision: int) -> dict:
    return {
        "change_id": change.id,
        "tenant_id": t.tenant_id,
        "required_notice_seconds": t.seconds,
        "notice_basis": canonical_json(list(t.basis)),
        "clock_revision": revision,
        "notice_given_at": None,
        "active": True,
    }


def _tenant_facts(change: Change, tenants, revision: int, action: str) -> list[Fact]:
    return [
        Fact(
            action,
            "change_tenant",
            f"{change.id}:{t.tenant_id}",
            {"revision": revision, "required_notice_seconds": t.seconds, "basis": list(t.basis)},
            tenant_id=t.tenant_id,
            change_id=change.id,
        )
        for t in tenants
    ]


def publish(change: Change, *, actor, now: dt.datetime, short_notice: bool = False) -> Revision:
    """draft → scheduled in one transaction: revision 1, one ChangeTenant per affected
    tenant, ledger entries, then the announcement. Refused (409) by the publish check unless
    ``short_notice`` (an approved emergency, which still respects blackout windows)."""
    allowed = (PENDING_APPROVAL,) if short_notice else (DRAFT,)
    # Lock the change's row and read its status as committed: of two publishes at once the
    # second waits here, then sees "scheduled" and is refused (409), instead of colliding
    # on the tenants' rows (issue #11).
    status = db.session.scalar(
        select(Change.status).where(Change.id == change.id).with_for_update()
    )
    status = status or change.status
    if status not in allowed:
        raise Conflict(
            f"only a {allowed[0].replace('_', ' ')} change can be published; "
            f"this one is {status.replace('_', ' ')}",
            status_now=status,
        )
    inp = input_of(change)
    if inp.starts_at <= now:
        raise Conflict("the start is in the past; reschedule before publishing", field="starts_at")
    plan, check = run_check(inp, now)
    if check.blackouts or (check.blockers and not short_notice):
        raise NoticeWindowViolation(check)
    change.status, change.published_at, change.short_notice = SCHEDULED, now, short_notice
    revision = new_revision(
        change,
        "publish",
        actor=actor,
        now=now,
        material=True,
        summary="published" + (" as short notice" if short_notice else ""),
    )
    if plan.tenants:
        db.session.execute(
            insert(ChangeTenant), [_tenant_row(change, t, revision.number) for t in plan.tenants]
        )
    record(
        "change.published",
        subject_type="change",
        subject_id=change.id,
        change_id=change.id,
        actor=actor,
        now=now,
        payload={
            "revision": revision.number,
            "starts_at": change.starts_at,
            "ends_at": change.ends_at,
            "impact": change.impact,
            "affected_tenants": len(plan.tenants),
            "short_notice": short_notice,
            "snapshot_sha": _sha(revision.snapshot),
        },
    )
    record_many(
        _tenant_facts(change, plan.tenants, revision.number, "change.tenant_notice_required"),
        actor=actor,
        now=now,
    )
    announce(change, revision, now)
    return revision


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def concerned_check(check: rules.PublishCheck, concerned: set[int]) -> rules.PublishCheck:
    """The publish check narrowed to the tenants whose clock a revision restarts.

    A non-material revision restarts nobody's clock, so only blackouts can refuse it; a
    revision that only widens the affected set must give the newly affected tenants their
    notice, not re-give it to everyone else.
    """
    blockers = tuple(b for b in check.blockers if b.tenant_id in concerned)
    earliest = max((b.earliest_start for b in blockers), default=check.earliest_start)
    return rules.PublishCheck(
        earliest if blockers else check.earliest_start, blockers, check.blackouts, check.strictest
    )


def classify(
    change: Change, inp: ChangeInput, plan: NoticePlan | None = None
) -> rules.Classification:
    """Would replacing the change's content by ``inp`` be a material revision?"""
    plan = plan or plan_notice(inp.impact, inp.targets)
    ranks = dict(db.session.execute(select(ImpactLevel.code, ImpactLevel.rank)).all())
    old_affected = frozenset(
        db.session.execute(
            select(ChangeTenant.tenant_id).where(
                ChangeTenant.change_id == change.id, ChangeTenant.active.is_(True)
            )
        ).scalars()
    )
    old = rules.Content(change.starts_at, change.ends_at, ranks.get(change.impact, 0), old_affected)
    new = rules.Content(
        inp.starts_at, inp.ends_at, ranks.get(inp.impact, 0), frozenset(plan.by_tenant)
    )
    return rules.classify_revision(old, new)


def ensure_editable(change: Change) -> None:
    """Only drafts and scheduled changes may be edited (409 otherwise)."""
    if change.status not in EDITABLE:
        raise Conflict(
            f"a {change.status.replace('_', ' ')} change cannot be edited", status_now=change.status
        )


def update_change(change: Change, inp: ChangeInput, *, actor, now: dt.datetime) -> Revision | None:
    """Edit a draft in place, or revise a scheduled change (a new revision, announced)."""
    ensure_editable(change)
    if change.status == DRAFT:
        _apply(change, inp)
        change.updated_at = now
        record(
            "change.draft_updated",
            subject_type="change",
            subject_id=change.id,
            change_id=change.id,
            actor=actor,
            now=now,
            payload={"title": change.title},
        )
        return None
    return revise(change, inp, actor=actor, now=now)


def revise(change: Change, inp: ChangeInput, *, actor, now: dt.datetime) -> Revision:
    """Apply an edit to a scheduled change (DESIGN.md "Material revision").

    The change and its tenant rows are locked first (``reach.lock_change``), so a delivery,
    waiver or acknowledgement of the previous revision either lands before (and is reset
    here when the clock restarts) or waits and then no longer matches the clock revision.
    A tenant whose notice never reached it (failed, or no contact) gets its clock moved to
    this revision, whose delivery then counts; dropped tenants are told the change no
    longer affects them.
    """
    lock_change(change)
    plan, check = run_check(inp, now)
    classification = classify(change, inp, plan)
    concerned = classification.concerned(plan.by_tenant)
    blocking = concerned_check(check, concerned)
    if not blocking.ok:
        raise NoticeWindowViolation(blocking)
    old_start = change.starts_at
    _apply(change, inp)
    if change.starts_at != old_start:
        hooks.change_rescheduled.call(change, now)  # delivery re-arms its reminders
    material = classification.material
    summary = "; ".join(classification.reasons) if material else "non-material update"
    if classification.restarts_all:
        change.short_notice = False  # the emergency approved the old schedule, not this one
    revision = new_revision(
        change, "update", actor=actor, now=now, material=material, summary=summary
    )
    rows = {ct.tenant_id: ct for ct in tenant_rows(change.id)}  # locked first, then read
    unreached_ids = set(
        db.session.scalars(
            select(ChangeTenant.tenant_id).where(ChangeTenant.change_id == change.id, unreached())
        )
    )
    wanted = plan.by_tenant
    new_rows, restarted = [], []
    for tenant_id, req in wanted.items():
        row = rows.get(tenant_id)
        if row is None:
            new_rows.append(_tenant_row(change, req, revision.number))
            restarted.append(req)
        elif tenant_id in concerned or not row.active:
            row.clock_revision, row.notice_given_at, row.waived_at = revision.number, None, None
            row.emergency_approved_at = None
            row.required_notice_seconds = req.seconds
            row.notice_basis = canonical_json(list(req.basis))
            row.active = True
            restarted.append(req)
        elif tenant_id in unreached_ids:
            row.clock_revision = revision.number  # its first delivered notice is this one
            row.required_notice_seconds = max(row.required_notice_seconds, req.seconds)
        elif req.seconds > row.required_notice_seconds:
            # Never shorten anyone's notice; a tighter rule since publishing counts.
            row.required_notice_seconds = req.seconds
            row.notice_basis = canonical_json(list(req.basis))
    dropped = [row for tid, row in rows.items() if tid not in wanted and row.active]
    for row in dropped:
        row.active = False
    if new_rows:
        db.session.execute(insert(ChangeTenant), new_rows)
    db.session.flush()
    record(
        "change.revised",
        subject_type="change",
        subject_id=change.id,
        change_id=change.id,
        actor=actor,
        now=now,
        payload={
            "revision": revision.number,
            "material": material,
            "reasons": list(classification.reasons),
            "starts_at": change.starts_at,
            "ends_at": change.ends_at,
            "impact": change.impact,
            "no_longer_affected": sorted(r.tenant_id for r in dropped),
            "snapshot_sha": _sha(revision.snapshot),
        },
    )
    record_many(
        _tenant_facts(change, restarted, revision.number, "change.tenant_clock_restarted"),
        actor=actor,
        now=now,
    )
    announce(change, revision, now, dropped=[r.tenant_id for r in dropped])
    return revision
