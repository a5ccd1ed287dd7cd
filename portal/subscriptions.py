"""Connects the handlers of the higher floors to the hooks the lower floors call (``portal.hooks``).

This is the one place that knows who answers which hook; ``create_app`` calls ``subscribe_all``
(connecting is idempotent, so every app of a test run may call it). Handlers run in the order
listed here, which is the order the services called them in before the hooks existed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from portal import hooks
from portal.changes import reach
from portal.changes.models import Change, Revision
from portal.feeds import renames, versions
from portal.notify import announce, reminders, status


def feeds_after_announcement(
    change: Change, revision: Revision, *, now: dt.datetime, dropped: Sequence[int] = ()
) -> None:
    """The feeds of every scope the change appears in move their versions."""
    versions.bump_for_change(change, now)


def subscribe_all() -> None:
    """Connect every handler to its hook (see ``portal.hooks`` for what each hook means), and
    install the feeds' rename listener: a catalog, impact level or tenant rename moves the
    feeds that show the name (``portal.feeds.renames``; once per process)."""
    hooks.change_announced.connect(announce.announce)
    hooks.change_announced.connect(feeds_after_announcement)
    hooks.change_rescheduled.connect(reminders.re_arm)
    hooks.tenant_joined_change.connect(versions.bump_for_change)
    hooks.delivery_problems.connect(status.gate_reasons)
    hooks.contacts_changed.connect(reach.on_contacts_changed)
    hooks.usage_added.connect(reach.on_usage_added)
    renames.install()
