"""Telling people when a tenant's notice finally failed (DESIGN.md "A failed notice is
recoverable").

When every notice of a tenant's clock revision has finally failed (none waiting, none sent),
its tenant admins and account managers get one ``notice_failed`` message each, once per
sending (a resend that fails again is told again: the sending's serial is the message's
``offset_seconds``). The desk shows the same state from the outbox rows. Recovery is in
``portal.changes.reach``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, func, insert, literal, select, union

from portal.auth.models import User
from portal.changes.models import Change, ChangeTenant
from portal.changes.reach import OPEN_STATUSES, unreached
from portal.extensions import db, rows_affected
from portal.ledger.services import Fact, record_many
from portal.notify.models import FAILED, NOTICE, NOTICE_FAILED, PENDING, OutboxMessage
from portal.sqltypes import UTCDateTime
from portal.tenants.models import AccountManagerAssignment, Tenant


def _failed_tenants():
    """(change id, tenant id, clock revision, serial) of every open change's tenant whose
    notices of the clock revision all failed and that has not been told about this sending."""
    notice = OutboxMessage
    serial = (
        select(func.max(notice.offset_seconds))
        .where(
            notice.change_id == ChangeTenant.change_id,
            notice.tenant_id == ChangeTenant.tenant_id,
            notice.revision_number == ChangeTenant.clock_revision,
            notice.kind == NOTICE,
        )
        .scalar_subquery()
    )
    alert = OutboxMessage.__table__.alias("alert")
    told = exists().where(
        alert.c.change_id == ChangeTenant.change_id,
        alert.c.tenant_id == ChangeTenant.tenant_id,
        alert.c.revision_number == ChangeTenant.clock_revision,
        alert.c.kind == NOTICE_FAILED,
        alert.c.offset_seconds == serial,
    )
    any_failed = exists().where(
        notice.change_id == ChangeTenant.change_id,
        notice.tenant_id == ChangeTenant.tenant_id,
        notice.revision_number == ChangeTenant.clock_revision,
        notice.kind == NOTICE,
        notice.status == FAILED,
    )
    return db.session.execute(
        select(ChangeTenant.change_id, ChangeTenant.tenant_id, ChangeTenant.clock_revision, serial)
        .join(Change, Change.id == ChangeTenant.change_id)
        .where(Change.status.in_(OPEN_STATUSES), unreached(), any_failed, ~told)
    ).all()


def queue_failure_alerts(now: dt.datetime) -> int:
    """Queue the "notice could not be delivered" messages now due; returns rows written."""
    found = _failed_tenants()
    written = 0
    facts = []
    for change_id, tenant_id, revision, serial in found:
        admins = select(func.lower(User.email).label("email"), User.name.label("name")).where(
            User.tenant_id == tenant_id, User.is_tenant_admin.is_(True), User.active.is_(True)
        )
        managers = (
            select(func.lower(User.email).label("email"), User.name.label("name"))
            .join(AccountManagerAssignment, AccountManagerAssignment.user_id == User.id)
            .where(AccountManagerAssignment.tenant_id == tenant_id, User.active.is_(True))
        )
        people = union(admins, managers).subquery()
        first_party = select(Tenant.first_party).where(Tenant.id == tenant_id).scalar_subquery()
        rows = select(
            literal(change_id),
            literal(revision),
            literal(tenant_id),
            people.c.email,
            people.c.name,
            literal(NOTICE_FAILED),
            first_party,
            literal(serial or 0),
            literal(""),
            literal(PENDING),
            literal(0),
            literal(now, UTCDateTime),
            literal(now, UTCDateTime),
        )
        count = rows_affected(
            insert(OutboxMessage)
            .from_select(
                [
                    "change_id",
                    "revision_number",
                    "tenant_id",
                    "recipient",
                    "recipient_name",
                    "kind",
                    "first_party",
                    "offset_seconds",
                    "note",
                    "status",
                    "attempts",
                    "due_at",
                    "created_at",
                ],
                rows,
            )
            .execution_options(preserve_rowcount=True)
        )
        if not count:
            continue  # nobody to tell (no tenant admin, no account manager): the desk shows it
        written += count
        facts.append(
            Fact(
                "notice.finally_failed",
                "change_tenant",
                f"{change_id}:{tenant_id}",
                {"revision": revision, "sending": serial or 0},
                tenant_id=tenant_id,
                change_id=change_id,
            )
        )
    if facts:
        record_many(facts, actor="dispatcher", now=now)
        db.session.flush()
    return written
