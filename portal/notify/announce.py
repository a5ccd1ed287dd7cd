"""The hook every change transition calls to inform affected tenants.

``announce`` is called by the changes services, in the same transaction as the change's new
state, right after a new ``Revision`` row is flushed. It writes the outbox rows (one per
revision, tenant, recipient and kind); nothing is sent inside the web request. The delivery
feature owns the implementation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from portal.changes.models import Change, Revision
from portal.notify.outbox import enqueue_revision


def announce(
    change: Change, revision: Revision, *, now: dt.datetime, dropped: Sequence[int] = ()
) -> int:
    """Queue the notices for ``revision`` of ``change`` (and "no longer affects you" to the
    ``dropped`` tenants); returns the number of outbox rows."""
    return enqueue_revision(change, revision, now=now, dropped=dropped)
