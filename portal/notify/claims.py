"""Claiming due outbox rows for one worker (DESIGN.md "Delivery").

Claiming takes rows with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers
never take the same row; SQLite runs one worker. A claimed row carries a lease
(``claimed_until``): if its worker dies, the row is claimed again once the lease runs out and
re-sent with the same Message-ID. While a worker holds a batch it renews the lease
(``renew``), so only a dead or stuck worker loses its rows; the lease is short
(``DISPATCH_LEASE_SECONDS``, 45 s) so they are taken over within a minute.

Equal notice (DESIGN.md "Proof") is part of the claim, on every attempt: a first-party
tenant's notice of a revision is not claimable while any third-party tenant's notice of that
revision is still open: not given (no message of it accepted) and not finally failed, i.e.
one of its rows is pending (first try or retry, whatever the backoff) or leased (live or
expired lease). A tenant with no reachable contact has no row and holds nobody back.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from flask import current_app
from sqlalchemy import and_, exists, func, or_, select, text, update
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.notify.models import PENDING, SENDING, SENT, TENANT_NOTICE_KINDS, OutboxMessage
from portal.ops.logs import leases_taken_over


def new_worker_id() -> str:
    """A name for this worker, recorded on the rows it claims."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def fair():
    """WHERE clause of equal notice (DESIGN.md "Proof"): a first-party tenant's notice of a
    revision waits while any third-party tenant's notice of that revision is still open (a
    row pending or leased, and none of that tenant's rows of the revision accepted)."""
    other = aliased(OutboxMessage)
    given = aliased(OutboxMessage)
    other_tenant_given = exists().where(
        given.change_id == other.change_id,
        given.revision_number == other.revision_number,
        given.tenant_id == other.tenant_id,
        given.kind.in_(TENANT_NOTICE_KINDS),
        given.status == SENT,
    )
    third_party_waiting = exists().where(
        other.change_id == OutboxMessage.change_id,
        other.revision_number == OutboxMessage.revision_number,
        other.first_party.is_(False),
        other.status.in_((PENDING, SENDING)),
        other.kind.in_(TENANT_NOTICE_KINDS),
        ~other_tenant_given,
    )
    return or_(
        OutboxMessage.first_party.is_(False),
        OutboxMessage.kind.not_in(TENANT_NOTICE_KINDS),
        ~third_party_waiting,
    )


def expired_leases(now: dt.datetime):
    """Rows whose worker's lease ran out (it crashed or hung): claimable again."""
    return and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_until < now)


def due(now: dt.datetime):
    return and_(OutboxMessage.status == PENDING, OutboxMessage.due_at <= now)


def _pick(where, limit: int) -> list[int]:
    # Ordered by due_at only, so the (status, due_at) index yields rows in order and the
    # LIMIT stops the scan early, however many rows are queued.
    return list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(where, fair())
            .order_by(OutboxMessage.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True, of=OutboxMessage)
        )
    )


def lease_seconds() -> float:
    """How long a claim holds without renewal (``DISPATCH_LEASE_SECONDS``, seconds)."""
    return float(current_app.config["DISPATCH_LEASE_SECONDS"])


class Claimed(list):
    """The ids of a claim (a list of int), and how many of them were ``taken_over`` from a
    worker whose lease had run out."""

    taken_over: int = 0


def claim(now: dt.datetime, *, worker: str, limit: int) -> Claimed:
    """Claim up to ``limit`` claimable rows for ``worker`` and commit the claim; returns their
    ids (rows of expired leases first, then due rows in ``due_at`` order). This is the one
    production query of equal notice: see ``fair``."""
    lease = now + dt.timedelta(seconds=lease_seconds())
    ids = Claimed(_pick(expired_leases(now), limit))
    ids.taken_over = len(ids)
    if ids:
        _log_takeover(ids)
    if len(ids) < limit:
        ids += _pick(due(now), limit - len(ids))
    if ids:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(status=SENDING, claimed_until=lease, claimed_by=worker)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    return ids


def _log_takeover(ids: list[int]) -> None:

    rows = db.session.execute(
        select(OutboxMessage.claimed_by, func.count())
        .where(OutboxMessage.id.in_(ids))
        .group_by(OutboxMessage.claimed_by)
    )
    leases_taken_over(dict(rows.all()))


def renew(ids, *, worker: str, now: dt.datetime) -> set[int]:
    """Extend ``worker``'s lease on ``ids`` to ``now`` + the lease and commit; returns the ids
    it still holds (a row missing from the answer was taken over: its lease had run out and
    another worker claimed it, so this worker must not send it)."""
    ids = list(ids)
    if not ids:
        return set()
    lease = now + dt.timedelta(seconds=lease_seconds())
    held = set(
        db.session.scalars(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(ids),
                OutboxMessage.status == SENDING,
                OutboxMessage.claimed_by == worker,
            )
            .values(claimed_until=lease)
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.commit()
    return held


def due_count(now: dt.datetime) -> int:
    """How many rows are due now (for the progress bar; equal notice may hold some back)."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(or_(due(now), expired_leases(now)))
        )
        or 0
    )


# Below this many due rows a plan from stale statistics cannot cost much.
STALE_STATISTICS_MIN_DUE = 1000


def refresh_statistics(now: dt.datetime) -> bool:
    """On PostgreSQL, ANALYZE the outbox when its statistics describe fewer rows than are due.

    Right after a large publish the planner still sees the outbox as it was (autovacuum
    analyzes it later, on its own schedule). Believing the table nearly empty, it probes the
    equal-notice condition through the unique key instead of the fairness index, walking every
    row of the revision for each first-party candidate: a 20,000-notice dispatch took 98 s
    instead of 20. Returns whether it analyzed.
    """
    if db.engine.dialect.name != "postgresql":
        return False
    waiting = due_count(now)
    if waiting < STALE_STATISTICS_MIN_DUE:
        return False
    estimate = db.session.scalar(
        text("SELECT reltuples FROM pg_class WHERE oid = 'outbox_messages'::regclass")
    )
    if estimate is not None and estimate >= waiting:
        return False
    db.session.execute(text("ANALYZE outbox_messages"))
    db.session.commit()
    return True
