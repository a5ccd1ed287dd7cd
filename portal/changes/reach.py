"""The affected set moves: late joiners, recovery after a failed notice, and locking.

DESIGN.md "The notice window, exactly":
- a tenant that becomes affected while a change is scheduled (it starts using a touched
  service or component, or gets its first reachable notice contact) is announced to at once
  with the current revision; its own clock starts at its delivery; nobody else's restarts;
- when every contact of a tenant has finally failed for the current revision, a corrected or
  added contact, or an explicit "resend notice", queues the current revision's notice for that
  tenant, and its clock starts at that delivery.

Each (re)queued notice moves the tenant's ``clock_revision`` to the change's current content
revision, so the dispatcher's "first delivery of the clock revision" (portal/notify/evidence.py)
is exactly that delivery. Services flush and write the ledger; the caller commits.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, exists, func, insert, select, update

from portal import hooks
from portal.access import tenant_ids_visible_to
from portal.catalog.models import Usage
from portal.changes.models import (
    IN_PROGRESS,
    SCHEDULED,
    Change,
    ChangeTarget,
    ChangeTenant,
    Revision,
)
from portal.changes.notice import current_targets, plan_notice
from portal.errors import Conflict, Forbidden, NotFound
from portal.extensions import db
from portal.inputs import parse_id
from portal.ledger.services import canonical_json, record
from portal.notify.content import CONTENT_KINDS, NOW_AFFECTED, RESENT
from portal.notify.models import NOTICE, PENDING, SENDING, SENT, OutboxMessage
from portal.notify.outbox import enqueue_tenant_notice
from portal.tenants.models import NoticeContact, Tenant

OPEN_STATUSES = (SCHEDULED, IN_PROGRESS)


def lock_change(change: Change) -> None:
    """Serialise everything that reads and then writes a change's notice state (revisions,
    starts, waivers, acknowledgements, requeues): a row lock on PostgreSQL (``FOR UPDATE``,
    with the row re-read), on SQLite a no-op write that takes the database's write lock.
    Deliveries are kept out by the locks on ``change_tenants`` rows (``tenant_rows``)."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(
            update(Change).where(Change.id == change.id).values(updated_at=Change.updated_at)
        )
        db.session.refresh(change)
        return
    db.session.execute(
        select(Change)
        .where(Change.id == change.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def tenant_rows(change_id: int, *where) -> list[ChangeTenant]:
    """The change's tenant rows, locked (PostgreSQL) and re-read, so that a delivery or a
    waiver committed meanwhile is seen, and one waiting for the lock sees this transaction's
    outcome (its UPDATE re-checks ``clock_revision``)."""
    q = (
        select(ChangeTenant)
        .where(ChangeTenant.change_id == change_id, *where)
        .order_by(ChangeTenant.tenant_id)
        .execution_options(populate_existing=True)
    )
    if db.engine.dialect.name != "sqlite":
        q = q.with_for_update()
    return list(db.session.scalars(q))


def current_content_revision(change: Change) -> int:
    """The latest revision that published content (publish or update): what a notice sent
    now tells (a start or completion revision carries no new content)."""
    return (
        db.session.scalar(
            select(func.max(Revision.number)).where(
                Revision.change_id == change.id, Revision.kind.in_(CONTENT_KINDS)
            )
        )
        or change.revision_number
    )


def in_flight():
    """WHERE clause on ChangeTenant: a notice of its clock revision is waiting or sent."""
    return exists().where(
        OutboxMessage.change_id == ChangeTenant.change_id,
        OutboxMessage.tenant_id == ChangeTenant.tenant_id,
        OutboxMessage.revision_number == ChangeTenant.clock_revision,
        OutboxMessage.kind == NOTICE,
        OutboxMessage.status.in_((PENDING, SENDING, SENT)),
    )


def unreached():
    """WHERE clause on ChangeTenant: affected, not started, no notice given (nor waived or
    approved as an emergency), and no notice of its clock revision waiting or sent: its
    notice finally failed, or it had no reachable contact when the revision was announced."""
    return and_(
        ChangeTenant.active.is_(True),
        ChangeTenant.started_at.is_(None),
        ChangeTenant.notice_given_at.is_(None),
        ChangeTenant.waived_at.is_(None),
        ChangeTenant.emergency_approved_at.is_(None),
        ~in_flight(),
    )


def _has_contact(tenant_id: int) -> bool:
    return (
        db.session.scalar(select(NoticeContact.id).where(NoticeContact.tenant_id == tenant_id))
        is not None
    )


def requeue(
    change: Change, row: ChangeTenant, *, note: str, actor, now: dt.datetime, why: str
) -> int:
    """Queue the current revision's notice for one tenant and restart its clock there;
    records who asked and why. Returns the outbox rows written (0: no contact yet)."""
    revision = current_content_revision(change)
    row.clock_revision, row.notice_given_at, row.active = revision, None, True
    row.waived_at = row.emergency_approved_at = None
    db.session.flush()
    written = enqueue_tenant_notice(change, revision, row.tenant_id, note=note, now=now)
    record(
        "notice.requeued",
        subject_type="change_tenant",
        subject_id=f"{change.id}:{row.tenant_id}",
        change_id=change.id,
        tenant_id=row.tenant_id,
        actor=actor,
        now=now,
        payload={"revision": revision, "why": why, "messages": written},
    )
    return written


def may_resend(user, change: Change, tenant_id: int) -> bool:
    """Admins, engineers of the owning team, and the tenant's account managers."""
    if user.is_admin:
        return True
    if user.is_engineer and change.team_id in {m.team_id for m in user.memberships}:
        return True
    if user.is_account_manager:
        ids = tenant_ids_visible_to(user)  # None: all of them
        return ids is None or tenant_id in set(db.session.scalars(ids))
    return False


def resend_offered(user, change: Change) -> bool:
    """Whether the change page offers "resend notice" beside a tenant whose notice failed:
    to staff, while the change is open (``resend_notice`` refuses it otherwise; who may ask
    for which tenant, ``may_resend``, is checked on submit)."""
    return bool(user.is_staff) and change.status in OPEN_STATUSES


def affected_tenant_id(change: Change, slug_or_id: str) -> int:
    """The id of a tenant (by slug or canonical id, ``portal.inputs.parse_id``) the change
    affects or affected, else 404."""
    key = str(slug_or_id)
    number = parse_id(key)
    match = Tenant.id == number if number is not None else Tenant.slug == key
    found = db.session.scalar(
        select(ChangeTenant.tenant_id)
        .join(Tenant, Tenant.id == ChangeTenant.tenant_id)
        .where(ChangeTenant.change_id == change.id, match)
    )
    if found is None:
        raise NotFound("this change does not affect that tenant")
    return found


def resend_notice(change: Change, tenant_id: int, *, actor, now: dt.datetime) -> int:
    """ "Resend notice": queue the current revision's notice for a tenant whose notice finally
    failed (or that had no contact); its clock starts at that delivery. 403 for someone who
    may not ask, 404 for a tenant the change does not affect, 409 when there is nothing to
    resend (notice given, still being delivered, started, or no contact to send to)."""
    if not may_resend(actor, change, tenant_id):
        raise Forbidden(
            "only the owning team's engineers and the tenant's account managers can resend"
        )
    lock_change(change)
    rows = tenant_rows(change.id, ChangeTenant.tenant_id == tenant_id)
    if not rows or not rows[0].active:
        raise NotFound("this change does not affect that tenant")
    row = rows[0]
    if change.status not in OPEN_STATUSES:
        raise Conflict(f"the change is {change.status.replace('_', ' ')}", status_now=change.status)
    if row.started_at is not None:
        raise Conflict("the change has already started for this tenant")
    if row.notice_given_at is not None:
        raise Conflict("the notice was delivered; nothing to resend")
    if db.session.scalar(select(ChangeTenant.id).where(ChangeTenant.id == row.id, in_flight())):
        raise Conflict("the notice is still being delivered (queued or retrying)")
    if not _has_contact(tenant_id):
        raise Conflict("the tenant has no notice contact; add one first (the notice then goes)")
    return requeue(change, row, note=RESENT, actor=actor, now=now, why="resend asked")


def _open_rows_of(tenant_id: int, *where):
    return db.session.execute(
        select(Change, ChangeTenant)
        .join(ChangeTenant, ChangeTenant.change_id == Change.id)
        .where(Change.status.in_(OPEN_STATUSES), ChangeTenant.tenant_id == tenant_id, *where)
        .order_by(Change.id)
    ).all()


def on_contacts_changed(tenant_id: int, *, actor, now: dt.datetime) -> int:
    """A notice contact was added (or corrected): every open change whose notice never
    reached this tenant (finally failed, or no contact at the time) is queued again for it.
    Returns the number of changes requeued."""
    done = 0
    for change, row in _open_rows_of(tenant_id, unreached()):
        lock_change(change)
        rows = tenant_rows(change.id, ChangeTenant.id == row.id, unreached())
        if not rows:
            continue
        had_any = db.session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.change_id == change.id,
                OutboxMessage.tenant_id == tenant_id,
                OutboxMessage.kind == NOTICE,
            )
        )
        note = RESENT if had_any else NOW_AFFECTED
        if requeue(change, rows[0], note=note, actor=actor, now=now, why="notice contact added"):
            done += 1
    return done


def on_usage_added(tenant_id: int, *, actor, now: dt.datetime) -> int:
    """The tenant started using a service (component): every open change that now affects it
    and did not (or no longer did) announces the current revision to it at once, with its own
    clock; nobody else's clock restarts. Returns the number of changes it joined."""
    services = select(Usage.service_id).where(Usage.tenant_id == tenant_id)
    candidates = db.session.scalars(
        select(Change)
        .where(
            Change.status.in_(OPEN_STATUSES),
            Change.id.in_(
                select(ChangeTarget.change_id).where(ChangeTarget.service_id.in_(services))
            ),
        )
        .order_by(Change.id)
    ).all()
    joined = 0
    for change in candidates:
        req = plan_notice(change.impact, current_targets(change), tenant_id).by_tenant.get(
            tenant_id
        )
        if req is None:
            continue
        lock_change(change)
        rows = tenant_rows(change.id, ChangeTenant.tenant_id == tenant_id)
        if rows and rows[0].active:
            continue  # already affected: its clock runs as it did
        if rows:
            row = rows[0]
        else:
            db.session.execute(
                insert(ChangeTenant),
                [
                    {
                        "change_id": change.id,
                        "tenant_id": tenant_id,
                        "required_notice_seconds": req.seconds,
                        "notice_basis": canonical_json(list(req.basis)),
                        "clock_revision": current_content_revision(change),
                        "notice_given_at": None,
                        "active": True,
                    }
                ],
            )
            row = tenant_rows(change.id, ChangeTenant.tenant_id == tenant_id)[0]
        row.required_notice_seconds = max(row.required_notice_seconds, req.seconds)
        row.notice_basis = canonical_json(list(req.basis))
        record(
            "change.tenant_joined",
            subject_type="change_tenant",
            subject_id=f"{change.id}:{tenant_id}",
            change_id=change.id,
            tenant_id=tenant_id,
            actor=actor,
            now=now,
            payload={"required_notice_seconds": req.seconds, "basis": list(req.basis)},
        )
        requeue(change, row, note=NOW_AFFECTED, actor=actor, now=now, why="usage added")
        hooks.tenant_joined_change.call(change, now)  # the feeds move
        joined += 1
    return joined
