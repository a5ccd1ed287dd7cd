"""Changes and revisions as JSON for the API (times ISO-8601 UTC)."""

from __future__ import annotations

import datetime as dt
import json
import re

from flask_login import current_user

from portal.changes.models import Change, Revision


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def change_dict(change: Change, user) -> dict:
    """The change as its viewer may see it (authors and teams only for staff)."""
    data = {
        "id": change.id,
        "title": change.title,
        "body": change.body_md,
        "impact": change.impact,
        "status": change.status,
        "starts_at": _iso(change.starts_at),
        "ends_at": _iso(change.ends_at),
        "ack_required": change.ack_required,
        "visibility": change.visibility,
        "customer_action": change.customer_action or "",
        "act_by": _iso(change.act_by),
        "services": [
            t.service.slug + (f"/{t.component.slug}" if t.component else "") for t in change.targets
        ],
        "revision": change.revision_number,
        "material_revision": change.material_revision_number,
        "published_at": _iso(change.published_at),
        "short_notice": change.short_notice,
        "url": f"/changes/{change.id}",
    }
    if user.is_staff:
        data["team"] = change.team.slug
        data["author"] = change.author.email
    return data


# Tenant counts in revision summaries ("started for 3 tenant(s); 2 still waiting", "affected
# set widened by 2 tenant(s)") are for staff: customers never learn how many tenants a change
# affected (issue 17 item 7).
_TENANT_COUNTS = re.compile(r"\s*(?:by|for)\s+\d+\s+tenant\(s\)|;\s*\d+\s+still waiting")


def customer_summary(summary: str | None) -> str:
    """A revision summary without tenant counts, as customers (pages, API, notices) see it."""
    return _TENANT_COUNTS.sub("", summary or "").strip()


def revision_dict(revision: Revision, viewer=None) -> dict:
    """One revision with its snapshot decoded; for a customer ``viewer`` (default: the signed-in
    user) the summary leaves out tenant counts."""
    viewer = viewer if viewer is not None else current_user
    staff = bool(getattr(viewer, "is_staff", False))
    return {
        "number": revision.number,
        "kind": revision.kind,
        "material": revision.material,
        "summary": revision.summary if staff else customer_summary(revision.summary),
        "created_at": _iso(revision.created_at),
        "snapshot": json.loads(revision.snapshot),
    }
