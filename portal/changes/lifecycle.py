"""The go-live gate for every affected tenant, and starting, completing and cancelling.

``gates`` loads a change's active tenants in one query and asks ``rules.gate_for`` for each,
so the gate API stays fast for 10,000 tenants. Starting is refused (409) while any active
tenant's gate is shut, unless only the open tenants are started (progressive rollout).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update

from portal import hooks
from portal.changes import rules
from portal.changes.models import (
    CANCELLABLE,
    CANCELLED,
    COMPLETABLE,
    COMPLETED,
    IN_PROGRESS,
    SCHEDULED,
    STARTABLE,
    Change,
    ChangeTenant,
)
from portal.changes.reach import lock_change
from portal.changes.services import announce, new_revision
from portal.errors import Conflict
from portal.extensions import db
from portal.ledger.services import Fact, record, record_many
from portal.tenants.models import Tenant


@dataclass(frozen=True)
class TenantGate:
    """One affected tenant's gate, with what the gate API and the change page show."""

    tenant_id: int
    slug: str
    name: str
    first_party: bool
    required_seconds: int
    notice_given_at: dt.datetime | None
    started_at: dt.datetime | None
    state: rules.GateState

    def as_dict(self) -> dict:
        iso = _iso
        return {
            "tenant": self.slug,
            "name": self.name,
            "open": self.state.open,
            "opens_at": iso(self.state.opens_at),
            "reason": self.state.reason,
            "required_notice_seconds": self.required_seconds,
            "notice_given_at": iso(self.notice_given_at),
            "started_at": iso(self.started_at),
        }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def delivery_problems(change_id: int, tenant_ids: list[int]) -> dict[int, str]:
    """Why notice has not been given, per tenant (bounced, failed, no contacts …), as told by
    the delivery feature through the ``delivery_problems`` hook
    (``portal.notify.status.gate_reasons``)."""
    problems: dict[int, str] = {}
    for answer in hooks.delivery_problems.call(change_id, tenant_ids):
        problems.update(answer)
    return problems


def gates(
    change: Change,
    now: dt.datetime,
    tenant_id: int | None = None,
    tenant_scope=None,
    tenant_slug: str | None = None,
) -> list[TenantGate]:
    """The gate of every active affected tenant (or just ``tenant_id``), in one query.

    ``tenant_scope`` (a SELECT of tenant ids, from ``portal.access``) limits the answer to the
    tenants a viewer who does not manage the change may see.
    """
    q = (
        select(
            ChangeTenant.tenant_id,
            Tenant.slug,
            Tenant.name,
            Tenant.first_party,
            ChangeTenant.required_notice_seconds,
            ChangeTenant.notice_given_at,
            ChangeTenant.waived_at,
            ChangeTenant.emergency_approved_at,
            ChangeTenant.started_at,
        )
        .join(Tenant, Tenant.id == ChangeTenant.tenant_id)
        .where(ChangeTenant.change_id == change.id, ChangeTenant.active.is_(True))
        .order_by(Tenant.slug)
    )
    if tenant_id is not None:
        q = q.where(ChangeTenant.tenant_id == tenant_id)
    if tenant_slug is not None:
        q = q.where(Tenant.slug == tenant_slug)
    if tenant_scope is not None:
        q = q.where(ChangeTenant.tenant_id.in_(tenant_scope))
    rows = db.session.execute(q).all()
    undelivered = [r.tenant_id for r in rows if r.notice_given_at is None]
    problems = delivery_problems(change.id, undelivered) if undelivered else {}
    published = change.status in (SCHEDULED, IN_PROGRESS)
    result = []
    for r in rows:
        if not published:
            state = rules.GateState(False, None, f"change is {change.status.replace('_', ' ')}")
        else:
            state = rules.gate_for(
                starts_at=change.starts_at,
                required_seconds=r.required_notice_seconds,
                now=now,
                notice_given_at=r.notice_given_at,
                waived_at=r.waived_at,
                emergency_approved_at=r.emergency_approved_at,
                delivery_problem=problems.get(r.tenant_id),
            )
        result.append(
            TenantGate(
                r.tenant_id,
                r.slug,
                r.name,
                bool(r.first_party),
                r.required_notice_seconds,
                r.notice_given_at,
                r.started_at,
                state,
            )
        )
    return result


def overall(change: Change, tenant_gates: list[TenantGate], now: dt.datetime) -> dict:
    """Open only when every active tenant's gate is open (and, with none, at the start)."""
    published = change.status in (SCHEDULED, IN_PROGRESS)
    if not tenant_gates:
        is_open = published and now >= change.starts_at
        return {"open": is_open, "opens_at": _iso(change.starts_at) if published else None}
    shut = [g for g in tenant_gates if not g.state.open]
    known = [g.state.opens_at for g in tenant_gates if g.state.opens_at is not None]
    opens_at = max(known) if len(known) == len(tenant_gates) else None
    return {
        "open": not shut,
        "opens_at": _iso(opens_at),
        "open_tenants": len(tenant_gates) - len(shut),
        "shut_tenants": len(shut),
    }


@dataclass
class StartResult:
    """Which tenants this start released and which are still waiting."""

    started: list[TenantGate]
    waiting: list[TenantGate]


def start(change: Change, *, actor, now: dt.datetime, only_open: bool = False) -> StartResult:
    """Go live for every active tenant, or with ``only_open`` for those whose gate is open."""
    lock_change(change)
    if change.status not in STARTABLE:
        raise Conflict(
            f"a {change.status.replace('_', ' ')} change cannot be started",
            status_now=change.status,
        )
    all_gates = [g for g in gates(change, now) if g.started_at is None]
    open_gates = [g for g in all_gates if g.state.open]
    waiting = [g for g in all_gates if not g.state.open]
    if change.status == IN_PROGRESS and not all_gates:
        raise Conflict(
            "the change is already live for every affected tenant", status_now=change.status
        )
    if not all_gates and now < change.starts_at:
        raise Conflict("the start time has not been reached", opens_at=_iso(change.starts_at))
    if waiting and not only_open:
        raise Conflict(
            f"the gate is shut for {len(waiting)} tenant(s): "
            + ", ".join(f"{g.name} ({g.state.reason})" for g in waiting[:10]),
            blocking_tenants=[g.as_dict() for g in waiting],
        )
    if only_open and all_gates and not open_gates:
        raise Conflict(
            "no tenant's gate is open yet", blocking_tenants=[g.as_dict() for g in waiting]
        )
    ids = [g.tenant_id for g in open_gates]
    if ids:
        db.session.execute(
            update(ChangeTenant)
            .where(
                ChangeTenant.change_id == change.id,
                ChangeTenant.tenant_id.in_(ids),
            )
            .values(started_at=now, started_revision=change.revision_number + 1)
            .execution_options(synchronize_session=False)
        )
    change.status = IN_PROGRESS
    summary = f"started for {len(open_gates)} tenant(s)" + (
        f"; {len(waiting)} still waiting" if waiting else ""
    )
    revision = new_revision(change, "start", actor=actor, now=now, summary=summary)
    record(
        "change.started",
        subject_type="change",
        subject_id=change.id,
        change_id=change.id,
        actor=actor,
        now=now,
        payload={
            "revision": revision.number,
            "started": len(ids),
            "waiting": [g.slug for g in waiting],
        },
    )
    record_many(
        [
            Fact(
                "change.tenant_started",
                "change_tenant",
                f"{change.id}:{g.tenant_id}",
                {"revision": revision.number, "gate_opened_at": g.state.opens_at},
                tenant_id=g.tenant_id,
                change_id=change.id,
            )
            for g in open_gates
        ],
        actor=actor,
        now=now,
    )
    announce(change, revision, now)
    return StartResult(open_gates, waiting)


def complete(change: Change, *, actor, now: dt.datetime):
    """in progress → completed."""
    lock_change(change)
    if change.status not in COMPLETABLE:
        raise Conflict(
            f"only a change in progress can be completed; this one is "
            f"{change.status.replace('_', ' ')}",
            status_now=change.status,
        )
    change.status = COMPLETED
    revision = new_revision(change, "complete", actor=actor, now=now, summary="completed")
    record(
        "change.completed",
        subject_type="change",
        subject_id=change.id,
        change_id=change.id,
        actor=actor,
        now=now,
        payload={"revision": revision.number},
    )
    announce(change, revision, now)
    return revision


def cancel(change: Change, *, actor, now: dt.datetime, reason: str = ""):
    """scheduled → cancelled (announced); a draft or pending change is simply withdrawn."""
    lock_change(change)
    if change.status not in CANCELLABLE:
        raise Conflict(
            f"a {change.status.replace('_', ' ')} change cannot be cancelled",
            status_now=change.status,
        )
    was_published = change.status == SCHEDULED
    change.status = CANCELLED
    change.updated_at = now
    revision = None
    if was_published:
        revision = new_revision(
            change, "cancel", actor=actor, now=now, summary=reason or "cancelled"
        )
    record(
        "change.cancelled",
        subject_type="change",
        subject_id=change.id,
        change_id=change.id,
        actor=actor,
        now=now,
        payload={
            "revision": revision.number if revision else None,
            "reason": reason,
            "was_published": was_published,
        },
    )
    if revision is not None:
        announce(change, revision, now)
    return revision
