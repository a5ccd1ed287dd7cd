"""Changes and revisions as JSON for the API (times ISO-8601 UTC)."""

from __future__ import annotations

import datetime as dt
import json

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


def revision_dict(revision: Revision) -> dict:
    """One revision with its snapshot decoded."""
    return {
        "number": revision.number,
        "kind": revision.kind,
        "material": revision.material,
        "summary": revision.summary,
        "created_at": _iso(revision.created_at),
        "snapshot": json.loads(revision.snapshot),
    }
