"""The transactional outbox: queueing a revision's notices with set-based inserts.

``enqueue_revision`` runs inside the changes service's transaction (through
``portal.notify.announce.announce``), so the notices exist exactly when the change's new state
does. It issues two ``INSERT … SELECT`` statements whatever the number of tenants: one for the
contractual notices to every notice contact of every active affected tenant, one for the
optional notices to tenant users who opted in by service and impact level.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import and_, exists, func, insert, literal, or_, select

from portal.auth.models import User
from portal.catalog.models import Usage
from portal.changes.models import Change, ChangeTarget, ChangeTenant, ImpactLevel, Revision
from portal.extensions import db, rows_affected
from portal.ledger.services import record
from portal.notify.content import NO_LONGER_AFFECTED
from portal.notify.models import (
    NOTICE,
    PENDING,
    STAFF_KINDS,
    SUBSCRIPTION,
    EmailPreference,
    EmailPreferenceService,
    OutboxMessage,
)
from portal.sqltypes import UTCDateTime
from portal.tenants.models import NoticeContact, Tenant

OUTBOX_COLUMNS = (
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
)


def _constants(
    change: Change, revision_number: int, kind: str, now: dt.datetime, offset_seconds: int = 0
) -> dict:
    return {
        "change_id": literal(change.id),
        "revision_number": literal(revision_number),
        "kind": literal(kind),
        "offset_seconds": literal(offset_seconds),
        "note": literal(""),
        "status": literal(PENDING),
        "attempts": literal(0),
        "due_at": literal(now, UTCDateTime),
        "created_at": literal(now, UTCDateTime),
    }


def _insert_from(query_columns: dict) -> int:
    """INSERT INTO outbox_messages SELECT … ; returns the number of rows written."""
    query = query_columns.pop("_query")
    cols = [query_columns[name].label(name) for name in OUTBOX_COLUMNS]
    select_stmt = query.with_only_columns(*cols)
    return rows_affected(
        insert(OutboxMessage)
        .from_select(list(OUTBOX_COLUMNS), select_stmt)
        .execution_options(preserve_rowcount=True)
    )


def contact_notice_rows(
    change: Change,
    revision_number: int,
    now: dt.datetime,
    *,
    which=None,
    note: str = "",
    serial: int = 0,
) -> int:
    """Contractual notices: every notice contact of every active affected tenant, or of the
    tenants ``which`` (a WHERE clause on ``ChangeTenant``) selects; ``note`` marks a notice
    that is not a plain revision notice (``portal.notify.content``), ``serial`` a second
    sending of the same revision (it keeps the outbox key unique)."""
    base = (
        select(ChangeTenant.id)
        .join(Tenant, Tenant.id == ChangeTenant.tenant_id)
        .join(NoticeContact, NoticeContact.tenant_id == ChangeTenant.tenant_id)
        .where(
            ChangeTenant.change_id == change.id,
            ChangeTenant.active.is_(True) if which is None else which,
        )
    )
    return _insert_from(
        {
            **_constants(change, revision_number, NOTICE, now, serial),
            "note": literal(note),
            "tenant_id": ChangeTenant.tenant_id,
            "recipient": func.lower(NoticeContact.email),
            "recipient_name": NoticeContact.name,
            "first_party": Tenant.first_party,
            "_query": base,
        }
    )


def opted_in_filter(change: Change):
    """WHERE clause on (EmailPreference, User, ChangeTenant) for users who want this change."""
    change_rank = select(ImpactLevel.rank).where(ImpactLevel.code == change.impact)
    pref_rank = (
        select(ImpactLevel.rank)
        .where(ImpactLevel.code == EmailPreference.min_impact)
        .scalar_subquery()
    )
    chosen_service = exists().where(
        EmailPreferenceService.preference_id == EmailPreference.id,
        EmailPreferenceService.service_id.in_(
            select(ChangeTarget.service_id).where(ChangeTarget.change_id == change.id)
        ),
        # Only services the tenant still uses count.
        EmailPreferenceService.service_id.in_(
            select(Usage.service_id).where(Usage.tenant_id == EmailPreference.tenant_id)
        ),
    )
    already_contact = exists().where(
        NoticeContact.tenant_id == User.tenant_id,
        func.lower(NoticeContact.email) == func.lower(User.email),
    )
    return and_(
        EmailPreference.min_impact.is_not(None),
        pref_rank <= change_rank.scalar_subquery(),
        or_(EmailPreference.all_services.is_(True), chosen_service),
        User.active.is_(True),
        ~already_contact,
    )


def subscriber_notice_rows(
    change: Change, revision_number: int, now: dt.datetime, *, which=None, note: str = ""
) -> int:
    """Optional notices to tenant users who opted in (not already a notice contact), of
    every active affected tenant or of those ``which`` selects."""
    base = (
        select(ChangeTenant.id)
        .join(Tenant, Tenant.id == ChangeTenant.tenant_id)
        .join(User, User.tenant_id == ChangeTenant.tenant_id)
        .join(EmailPreference, EmailPreference.user_id == User.id)
        .where(
            ChangeTenant.change_id == change.id,
            ChangeTenant.active.is_(True) if which is None else which,
            EmailPreference.tenant_id == ChangeTenant.tenant_id,
            opted_in_filter(change),
        )
    )
    return _insert_from(
        {
            **_constants(change, revision_number, SUBSCRIPTION, now),
            "note": literal(note),
            "tenant_id": ChangeTenant.tenant_id,
            "recipient": func.lower(User.email),
            "recipient_name": User.name,
            "first_party": Tenant.first_party,
            "_query": base,
        }
    )


def audience(revision: Revision):
    """Which affected tenants a revision's notice goes to (a WHERE clause on ChangeTenant):
    a start only to the tenants it started, a completion only to tenants started before;
    everything else to every active tenant (DESIGN.md "The affected set moves")."""
    active = ChangeTenant.active.is_(True)
    if revision.kind == "start":
        return and_(active, ChangeTenant.started_revision == revision.number)
    if revision.kind == "complete":
        return and_(active, ChangeTenant.started_at.is_not(None))
    return active


def enqueue_revision(
    change: Change, revision: Revision, *, now: dt.datetime, dropped: Sequence[int] = ()
) -> int:
    """Write the outbox rows for ``revision`` (flushed first); returns how many were written.

    ``dropped`` are tenants the revision no longer affects: they get a "no longer affects
    you" notice (``portal.notify.content.NO_LONGER_AFFECTED``) instead.
    """
    db.session.flush()
    which = audience(revision)
    contractual = contact_notice_rows(change, revision.number, now, which=which)
    optional = subscriber_notice_rows(change, revision.number, now, which=which)
    if dropped:
        gone = ChangeTenant.tenant_id.in_(list(dropped))
        contractual += contact_notice_rows(
            change, revision.number, now, which=gone, note=NO_LONGER_AFFECTED
        )
    record(
        "notices.queued",
        subject_type="revision",
        subject_id=revision.id,
        change_id=change.id,
        actor="dispatcher",
        now=now,
        payload={
            "revision": revision.number,
            "kind": revision.kind,
            "material": bool(revision.material),
            "contractual": contractual,
            "optional": optional,
            "no_longer_affected": sorted(dropped),
        },
    )
    return contractual + optional


def next_serial(change_id: int, revision_number: int, tenant_id: int) -> int:
    """The ``offset_seconds`` serial for another sending of a revision's notice to a tenant."""
    used = db.session.scalar(
        select(func.max(OutboxMessage.offset_seconds)).where(
            OutboxMessage.change_id == change_id,
            OutboxMessage.revision_number == revision_number,
            OutboxMessage.tenant_id == tenant_id,
            OutboxMessage.kind == NOTICE,
        )
    )
    return 0 if used is None else used + 1


def enqueue_tenant_notice(
    change: Change, revision_number: int, tenant_id: int, *, note: str, now: dt.datetime
) -> int:
    """Queue revision ``revision_number``'s notice for one tenant's notice contacts (a late
    joiner, or a resend after a failure); returns the rows written. Flushes."""
    db.session.flush()
    return contact_notice_rows(
        change,
        revision_number,
        now,
        which=ChangeTenant.tenant_id == tenant_id,
        note=note,
        serial=next_serial(change.id, revision_number, tenant_id),
    )


def notify_staff(
    change: Change,
    *,
    kind: str,
    recipients: list[tuple[str, str]],
    now: dt.datetime,
    note: str = "",
    tenant_id: int | None = None,
) -> int:
    """Queue an internal email (``escalation``, ``objection`` or ``approval``) about
    ``change`` to provider staff, one row per (email, name) in ``recipients``; returns the
    number of rows. Flushes.

    ``tenant_id`` names the tenant the message is about (the objecting or silent tenant). Each
    call is a new message: its serial number goes in ``offset_seconds`` so the outbox key stays
    unique when a tenant objects twice.
    """
    if kind not in STAFF_KINDS:
        raise ValueError(f"not an internal kind of message: {kind!r}")
    seen: dict[str, str] = {}
    for email, name in recipients:
        email = (email or "").strip().lower()
        if email and email not in seen:
            seen[email] = name or ""
    if not seen:
        return 0
    db.session.flush()
    tenant_match = (
        OutboxMessage.tenant_id.is_(None)
        if tenant_id is None
        else OutboxMessage.tenant_id == tenant_id
    )
    serial = (
        db.session.scalar(
            select(func.max(OutboxMessage.offset_seconds)).where(
                OutboxMessage.change_id == change.id,
                OutboxMessage.revision_number == change.revision_number,
                OutboxMessage.kind == kind,
                tenant_match,
            )
        )
        or 0
    ) + 1
    first_party = bool(
        tenant_id is not None
        and db.session.scalar(select(Tenant.first_party).where(Tenant.id == tenant_id))
    )
    db.session.add_all(
        OutboxMessage(
            change_id=change.id,
            revision_number=change.revision_number,
            tenant_id=tenant_id,
            recipient=email,
            recipient_name=name[:200],
            kind=kind,
            first_party=first_party,
            offset_seconds=serial,
            note=note or "",
            status=PENDING,
            attempts=0,
            due_at=now,
            created_at=now,
        )
        for email, name in seen.items()
    )
    db.session.flush()
    record(
        f"staff.{kind}_queued",
        subject_type="change",
        subject_id=change.id,
        change_id=change.id,
        tenant_id=tenant_id,
        actor="dispatcher",
        now=now,
        payload={"kind": kind, "recipients": sorted(seen), "serial": serial},
    )
    return len(seen)
