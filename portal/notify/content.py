"""What a notice says: the content of its own revision, and what that revision changed.

A notice renders only from its own revision's snapshot (``Revision.snapshot``), never from the
change's current state, so two edits moments apart cannot mix in one message (DESIGN.md
"Delivery"). A revision notice lists what changed against the previous published content
(old → new times in the tenant's zone and UTC, impact, services, title), never the internal
classification ("affected set widened by …").
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from portal.timezones import format_when_and_utc

# ``OutboxMessage.note`` markers of tenant notices that are not a plain revision notice.
NO_LONGER_AFFECTED = "no-longer-affected"  # a revision dropped the tenant (DESIGN.md)
NOW_AFFECTED = "now-affected"  # a late joiner: usage or first reachable contact added
RESENT = "resent"  # the current revision's notice queued again after it failed
NOTICE_NOTES = (NO_LONGER_AFFECTED, NOW_AFFECTED, RESENT)
# Revision kinds that carry new content (and so a notice a tenant may acknowledge).
CONTENT_KINDS = ("publish", "update")


@dataclass(frozen=True)
class RevisionContent:
    """A change as one revision published it (what templates call ``change``)."""

    id: int
    number: int
    kind: str
    title: str
    body_md: str
    impact: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    ack_required: bool
    visibility: str
    services: tuple[str, ...] = field(default_factory=tuple)  # service slugs, sorted
    # (service slug, component slug or None for the whole service), sorted.
    targets: tuple[tuple[str, str | None], ...] = field(default_factory=tuple)
    # What customers need to do (Markdown, "" = nothing; sanitise when rendering) and by when
    # (aware UTC, or None). Snapshots taken before migration 0015 have neither.
    customer_action: str = ""
    act_by: dt.datetime | None = None


def _when(value) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def content_of(change_id: int, number: int, kind: str, snapshot: str) -> RevisionContent:
    """Parse a revision's canonical JSON snapshot (``portal.changes.services.snapshot``)."""
    data = json.loads(snapshot or "{}")
    return RevisionContent(
        id=change_id,
        number=number,
        kind=kind,
        title=data.get("title", ""),
        body_md=data.get("body_md", ""),
        impact=data.get("impact", ""),
        starts_at=_when(data["starts_at"]),
        ends_at=_when(data["ends_at"]),
        ack_required=bool(data.get("ack_required")),
        visibility=data.get("visibility", ""),
        services=tuple(sorted({t["service"] for t in data.get("targets", [])})),
        targets=tuple(
            sorted(
                {(t["service"], t.get("component")) for t in data.get("targets", [])},
                key=lambda t: (t[0], t[1] or ""),
            )
        ),
        customer_action=data.get("customer_action") or "",
        act_by=_when(data["act_by"]) if data.get("act_by") else None,
    )


def _both(when: dt.datetime, zone: str) -> str:
    return format_when_and_utc(when, zone)


def target_label(
    target: tuple[str, str | None],
    service_names: dict[str, str],
    component_names: dict[tuple[str, str], str],
) -> str:
    """ "Face Fusion API" for a whole service, "Face Fusion API: Europe (Dublin)" for one
    component (names where known, slugs otherwise)."""
    service, component = target
    name = service_names.get(service, service)
    if component is None:
        return name
    return f"{name}: {component_names.get((service, component), component)}"


def what_changed(
    old: RevisionContent | None,
    new: RevisionContent,
    zone: str,
    impacts: dict[str, str],
    service_names: dict[str, str] | None = None,
    component_names: dict[tuple[str, str], str] | None = None,
) -> list[str]:
    """Human lines saying what ``new`` changed against ``old`` (empty when nothing did).

    Times are given in ``zone`` and in UTC; impact levels by name (``impacts`` maps code to
    name); services and components by name where the mappings know them.
    """
    if old is None:
        return []
    names = service_names or {}
    components = component_names or {}
    lines = []
    if old.title != new.title:
        lines.append(f"Title: {old.title} → {new.title}")
    for label, before, after in (
        ("Start", old.starts_at, new.starts_at),
        ("End", old.ends_at, new.ends_at),
    ):
        if before != after:
            direction = "earlier" if after < before else "later"
            lines.append(f"{label} moved {direction}: {_both(before, zone)} → {_both(after, zone)}")
    if old.impact != new.impact:
        lines.append(
            f"Impact: {impacts.get(old.impact, old.impact)} → {impacts.get(new.impact, new.impact)}"
        )
    if old.services != new.services:
        lines.append(
            "Services: "
            + ", ".join(names.get(s, s) for s in old.services)
            + " → "
            + ", ".join(names.get(s, s) for s in new.services)
        )
    elif old.targets and new.targets and old.targets != new.targets:
        lines.append(
            "Components: "
            + ", ".join(target_label(t, names, components) for t in old.targets)
            + " → "
            + ", ".join(target_label(t, names, components) for t in new.targets)
        )
    if old.ack_required != new.ack_required:
        lines.append(
            "Acknowledgement: " + ("now required" if new.ack_required else "no longer required")
        )
    if old.customer_action != new.customer_action:
        if not new.customer_action:
            lines.append("What you need to do: nothing any more")
        elif not old.customer_action:
            lines.append("What you need to do: new (see below)")
        else:
            lines.append("What you need to do: changed (see below)")
    if old.act_by != new.act_by and new.act_by is None:
        lines.append("Act by: no deadline any more")
    elif old.act_by != new.act_by and new.act_by is not None:
        was = _both(old.act_by, zone) if old.act_by is not None else "none"
        direction = ""
        if old.act_by is not None:
            direction = " earlier" if new.act_by < old.act_by else " later"
        lines.append(f"Act by moved{direction}: {was} → {_both(new.act_by, zone)}")
    if old.body_md != new.body_md:
        lines.append("The description was edited (see below).")
    return lines


def moved(old: RevisionContent | None, new: RevisionContent) -> bool:
    """Whether ``new`` reschedules ``old`` (its start or end moved)."""
    return old is not None and (old.starts_at != new.starts_at or old.ends_at != new.ends_at)


def remaining(starts_at: dt.datetime, now: dt.datetime) -> str:
    """The real time left before the start, to the minute: "2 h 21 min", "3 days 4 h"."""
    minutes = max(0, round((starts_at - now).total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days >= 3:
        return f"{days} days" + (f" {hours} h" if hours else "")
    hours += days * 24
    if hours and mins:
        return f"{hours} h {mins} min"
    return f"{hours} h" if hours else f"{mins} min"
