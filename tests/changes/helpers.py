"""Small helpers shared by the changes tests (reading the ledger and notice rows)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from portal.changes.inputs import ChangeInput
from portal.changes.models import ChangeTenant
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.notify.models import OutboxMessage
from tests.conftest import T0

HOUR = dt.timedelta(hours=1)


def draft_input(story, start=T0 + 96 * HOUR, *, hours=2, impact="degradation", targets=None):
    """Content for a change of Face Fusion API (affects Tapai and Ptu)."""
    return ChangeInput(
        "Upgrade the fusion model",
        "Output resolution changes.",
        impact,
        start,
        start + dt.timedelta(hours=hours),
        targets or ((story.service.id, None),),
        story.team.id,
    )


def actions(change_id: int) -> list[str]:
    """The ledger actions recorded about ``change_id``, in order."""
    return list(
        db.session.execute(
            select(LedgerEntry.action)
            .where(LedgerEntry.change_id == change_id)
            .order_by(LedgerEntry.seq)
        ).scalars()
    )


def rows(change) -> dict[int, ChangeTenant]:
    """The change's notice rows by tenant id."""
    return {
        r.tenant_id: r
        for r in db.session.execute(
            select(ChangeTenant).where(ChangeTenant.change_id == change.id)
        ).scalars()
    }


def outbox_count(change_id: int) -> int:
    return db.session.execute(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.change_id == change_id)
    ).scalar_one()


def deliver(change, at: dt.datetime) -> None:
    """Simulate delivery (the dispatcher's job): notice given at ``at`` for every tenant."""
    for row in rows(change).values():
        row.notice_given_at = at
    db.session.commit()
