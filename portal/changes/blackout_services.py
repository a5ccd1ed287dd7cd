"""Blackout windows: provider-wide ones set by admins, and tenants' own within admin limits.

No change may start or run inside a blackout window of the provider or of an affected tenant
(the publish check reads them through ``notice.blackouts_overlapping``). A tenant admin may
declare windows for their own tenant of at most ``TENANT_BLACKOUT_MAX_HOURS`` each and at most
``TENANT_BLACKOUT_MAX_PER_YEAR`` starting in any calendar year (UTC). Every addition and removal
is written to the ledger.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import func, select

from portal.changes.models import BlackoutWindow
from portal.errors import Conflict, InvalidInput, NotFound
from portal.extensions import db
from portal.ledger.services import record
from portal.timezones import check_time_bounds


def tenant_limits() -> tuple[int, int]:
    """(max hours per window, max windows per calendar year) for tenants' own windows."""
    return (
        int(current_app.config["TENANT_BLACKOUT_MAX_HOURS"]),
        int(current_app.config["TENANT_BLACKOUT_MAX_PER_YEAR"]),
    )


def _check_period(starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput("times need a time zone", field="starts_at")
    if ends_at <= starts_at:
        raise InvalidInput("the end must be after the start", field="ends_at")
    if ends_at <= now:
        raise InvalidInput("the window is already over", field="ends_at")
    check_time_bounds(starts_at, "starts_at", now=now)
    check_time_bounds(ends_at, "ends_at", now=now)


def windows(tenant_id: int | None):
    """SELECT of the provider-wide windows (``tenant_id`` None) or one tenant's own."""
    clause = (
        BlackoutWindow.tenant_id.is_(None)
        if tenant_id is None
        else BlackoutWindow.tenant_id == tenant_id
    )
    return select(BlackoutWindow).where(clause).order_by(BlackoutWindow.starts_at)


def add_window(
    *,
    tenant_id: int | None,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    reason: str,
    actor,
    now: dt.datetime,
) -> BlackoutWindow:
    """Add a window; a tenant's own is held to the admin-set limits."""
    _check_period(starts_at, ends_at, now)
    if tenant_id is not None:
        max_hours, max_per_year = tenant_limits()
        if ends_at - starts_at > dt.timedelta(hours=max_hours):
            raise InvalidInput(
                f"a blackout window may last at most {max_hours} h",
                field="ends_at",
                max_hours=max_hours,
            )
        if starts_at < now:
            raise InvalidInput("the window must start in the future", field="starts_at")
        year = starts_at.astimezone(dt.UTC).year
        first = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
        last = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
        count = db.session.execute(
            select(func.count())
            .select_from(BlackoutWindow)
            .where(
                BlackoutWindow.tenant_id == tenant_id,
                BlackoutWindow.starts_at >= first,
                BlackoutWindow.starts_at < last,
            )
        ).scalar_one()
        if count >= max_per_year:
            raise Conflict(
                f"you already have {count} blackout window(s) in {year}; the limit "
                f"is {max_per_year} a year",
                field="starts_at",
                max_per_year=max_per_year,
            )
    window = BlackoutWindow(
        tenant_id=tenant_id,
        starts_at=starts_at.astimezone(dt.UTC),
        ends_at=ends_at.astimezone(dt.UTC),
        reason=(reason or "").strip()[:300],
        created_by_id=getattr(actor, "id", None),
        created_at=now,
    )
    db.session.add(window)
    db.session.flush()
    record(
        "blackout.added",
        subject_type="blackout_window",
        subject_id=window.id,
        tenant_id=tenant_id,
        actor=actor,
        now=now,
        payload={
            "scope": "tenant" if tenant_id else "provider",
            "starts_at": window.starts_at,
            "ends_at": window.ends_at,
            "reason": window.reason,
        },
    )
    return window


def get_window_or_404(window_id: int, tenant_id: int | None) -> BlackoutWindow:
    """A window of exactly this scope (provider-wide or this tenant's), else 404."""
    window = db.session.get(BlackoutWindow, window_id)
    if window is None or window.tenant_id != tenant_id:
        raise NotFound("no such blackout window")
    return window


def remove_window(window: BlackoutWindow, *, actor, now: dt.datetime) -> None:
    """Remove a window that has not ended; past ones stay as the record of what applied."""
    if window.ends_at <= now:
        raise Conflict("this window is over and stays on record")
    record(
        "blackout.removed",
        subject_type="blackout_window",
        subject_id=window.id,
        tenant_id=window.tenant_id,
        actor=actor,
        now=now,
        payload={"starts_at": window.starts_at, "ends_at": window.ends_at, "reason": window.reason},
    )
    db.session.delete(window)
    db.session.flush()
