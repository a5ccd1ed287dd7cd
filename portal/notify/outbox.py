"""The transactional outbox (implementation owned by the delivery feature)."""

from __future__ import annotations

import datetime as dt

from portal.changes.models import Change, Revision


def enqueue_revision(change: Change, revision: Revision, *, now: dt.datetime) -> int:
    """Write outbox rows for ``revision``. Filled in by the delivery feature (issue 4)."""
    return 0
