"""A change's history in plain words, and its cancellation, as the change page shows them.

Customers read "Announced", "Rescheduled: your notice period restarted", "Cancelled: <reason>"
rather than the internal words ("publish", "material", "affected set widened by 2 tenant(s)")
— issue 15 item 4. Each line is derived from the revisions' own snapshots (what that revision
published), so it tells what changed at that step, in the viewer's zone with UTC alongside.
Staff see the same lines and, beside them, the technical kind and summary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from portal.acks.services import change_tenant
from portal.catalog.models import Service
from portal.changes.models import CANCELLED, Change, ImpactLevel, Revision
from portal.extensions import db
from portal.notify.content import RevisionContent, content_of, what_changed
from portal.timezones import format_when_and_utc

# The words a revision kind reads as (issue 15 item 4); ``update`` is worked out per revision.
PLAIN_KINDS = {"start": "Started", "complete": "Completed"}
RESTARTED = "your notice period restarted"
UNCHANGED = "your notice period is unchanged"


@dataclass(frozen=True)
class HistoryLine:
    """One step of a change's history: when (UTC), a headline in plain words, and what it
    changed (lines, times in the viewer's zone with UTC). ``kind``/``summary`` are for staff."""

    number: int
    at: dt.datetime
    headline: str
    details: tuple[str, ...]
    kind: str
    summary: str


@dataclass(frozen=True)
class Cancellation:
    """When a published change was cancelled (UTC) and why ("" when no reason was given)."""

    at: dt.datetime
    reason: str


def cancellation(change: Change, revisions: Sequence[Revision]) -> Cancellation | None:
    """The cancellation of a cancelled change, from its ``cancel`` revision (None otherwise,
    and for a draft cancelled before it was ever published: nobody was told)."""
    if change.status != CANCELLED:
        return None
    for revision in sorted(revisions, key=lambda r: r.number, reverse=True):
        if revision.kind == "cancel":
            reason = "" if revision.summary in ("", "cancelled") else revision.summary
            return Cancellation(revision.created_at, reason)
    return None


def action_changes(old: RevisionContent, new: RevisionContent, zone: str) -> list[str]:
    """Lines saying how "what you need to do" and "act by" changed between two revisions."""
    lines = []
    if old.act_by != new.act_by:
        if new.act_by is None:
            lines.append("Act by: removed")
        elif old.act_by is None:
            lines.append(f"Act by: {format_when_and_utc(new.act_by, zone)}")
        else:
            lines.append(
                f"Act by: {format_when_and_utc(old.act_by, zone)} → "
                f"{format_when_and_utc(new.act_by, zone)}"
            )
    if old.customer_action != new.customer_action:
        if not new.customer_action:
            lines.append("What you need to do: nothing is asked any more")
        else:
            lines.append("What you need to do: updated")
    return lines


def _restarts(old: RevisionContent, new: RevisionContent, ranks: dict[str, int]) -> bool:
    """Whether the revision restarted every affected tenant's notice clock (DESIGN.md
    "Material revision": start earlier, end later, impact raised). A revision material only
    because it widened the affected set restarts no existing tenant's clock."""
    return (
        new.starts_at < old.starts_at
        or new.ends_at > old.ends_at
        or ranks.get(new.impact, 0) > ranks.get(old.impact, 0)
    )


def _content(revision: Revision) -> RevisionContent | None:
    """The revision's snapshot as content; None for one that lacks the times (rows written
    by hand, never by the services)."""
    try:
        return content_of(revision.change_id, revision.number, revision.kind, revision.snapshot)
    except (KeyError, TypeError, ValueError):
        return None


def _update_headline(
    old: RevisionContent | None, new: RevisionContent | None, revision: Revision, ranks
) -> str:
    if old is None or new is None:
        return "Updated"
    if (old.starts_at, old.ends_at) != (new.starts_at, new.ends_at):
        base = "Rescheduled"
    elif old.impact != new.impact:
        base = "Impact changed"
    elif old.services != new.services:
        base = "Services changed"
    elif (old.customer_action, old.act_by) != (new.customer_action, new.act_by):
        base = "What you need to do changed"
    else:
        base = "Details updated"
    restarted = revision.material and _restarts(old, new, ranks)
    return f"{base}: {RESTARTED if restarted else UNCHANGED}"


def plain_history(
    revisions: Sequence[Revision],
    zone: str,
    *,
    started_revision: int | None = None,
    for_customer: bool = True,
) -> list[HistoryLine]:
    """The history lines of ``revisions``, newest first, in ``zone``.

    For a customer (``for_customer``) a "start" revision shows only when it started the
    customer's own tenant (``started_revision``, from its ``ChangeTenant``): customers do not
    learn when other tenants went live. Two statements (impact levels, service names).
    """
    ordered = sorted(revisions, key=lambda r: r.number)
    impacts = dict(db.session.execute(select(ImpactLevel.code, ImpactLevel.name)).all())
    ranks = dict(db.session.execute(select(ImpactLevel.code, ImpactLevel.rank)).all())
    names = dict(db.session.execute(select(Service.slug, Service.name)).all())
    lines: list[HistoryLine] = []
    previous: RevisionContent | None = None
    for revision in ordered:
        content = _content(revision)
        details: list[str] = []
        if revision.kind == "publish":
            short = "short notice" in (revision.summary or "")
            headline = "Announced at short notice (emergency)" if short else "Announced"
        elif revision.kind == "update":
            headline = _update_headline(previous, content, revision, ranks)
            if previous is not None and content is not None:
                details = [
                    line
                    for line in what_changed(previous, content, zone, impacts, names)
                    if not line.startswith("The description was edited")
                ]
                details += action_changes(previous, content, zone)
                if previous.body_md != content.body_md:
                    details.append("Description: edited")
        elif revision.kind == "cancel":
            reason = "" if revision.summary in ("", "cancelled") else revision.summary
            headline = f"Cancelled: {reason}" if reason else "Cancelled"
        else:
            headline = PLAIN_KINDS.get(revision.kind, revision.kind.replace("_", " ").title())
        if revision.kind in ("publish", "update"):
            previous = content
        if for_customer and revision.kind == "start" and started_revision != revision.number:
            continue
        lines.append(
            HistoryLine(
                revision.number,
                revision.created_at,
                headline,
                tuple(details),
                revision.kind,
                revision.summary or "",
            )
        )
    return list(reversed(lines))


def history_for_viewer(change: Change, revisions: Sequence[Revision], user, zone: str):
    """``plain_history`` for the change page's viewer: a customer sees the start only when it
    started their own tenant."""
    if not user.is_customer:
        return plain_history(revisions, zone, for_customer=False)
    row = change_tenant(change.id, user.tenant_id)
    started = row.started_revision if row is not None else None
    return plain_history(revisions, zone, started_revision=started, for_customer=True)
