"""Fetch receipts: evidence that a tenant's feed reader received given change revisions.

A receipt claims only what a response carried (DESIGN.md "Feeds"). A 200 with new content writes
a new receipt row and a ``feed.fetched`` ledger entry naming exactly the revisions of the body
sent; the same content again moves that receipt's count and last-fetch time (and adds the
format), at most once per ``FEED_RECEIPT_TOUCH_SECONDS`` and format, so steady polling costs
reads only. A 304 carries no content: it only extends the receipt of content this token
already received in this format, and records nothing otherwise (``If-None-Match: *``, an
``If-Modified-Since`` from another format or another reader prove nothing was received). The
certificate feature reads them through ``receipts_for``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.feeds.models import FeedReceipt, FeedToken
from portal.feeds.tokens import ActiveToken
from portal.ledger.models import LedgerEntry
from portal.ledger.services import record

USER_AGENT_MAX = 300
# Unchanged content fetched again within this time writes nothing at all (the default of
# ``FEED_RECEIPT_TOUCH_SECONDS``): a reader polling every few seconds costs reads only.
DEFAULT_TOUCH_EVERY = dt.timedelta(seconds=60)


def clean_user_agent(value: str | None) -> str:
    """Printable characters only, at most 300 of them."""
    return "".join(ch for ch in (value or "") if ch.isprintable())[:USER_AGENT_MAX]


def record_fetch(
    token: ActiveToken,
    *,
    content_key: str,
    fmt: str,
    user_agent: str | None,
    delivered: str | None,
    now: dt.datetime,
    touch_every: dt.timedelta = DEFAULT_TOUCH_EVERY,
) -> bool:
    """Record one fetch of content ``content_key`` in ``fmt`` by ``token``. Flushes; the caller
    commits.

    ``delivered``: the canonical JSON [[change_id, revision_number], …] of the body the
    response carried (``ServedBody.revisions``), or None for a 304, which carried none.
    New content delivered → a new receipt of exactly those revisions (which becomes the token's
    ``latest_receipt_id``) and a ``feed.fetched`` ledger entry. A body of the same version
    whose revisions differ from the latest receipt's (built while another worker committed a
    revision) is new content too. Content the token's latest receipt already holds → its
    count and last-fetch time move, at most once per
    ``touch_every`` per format (``fetch_count`` counts those recorded fetches), so the first
    receipt of each revision is exact and polling writes nothing in between; a 200 in a new
    format adds it. A 304 touches only a receipt of the same content that has this format,
    else records nothing. The token's latest receipt comes with the token
    (``token_for_secret``), so the common case reads nothing more. Returns whether anything
    was written.
    """
    wrote = False
    if token.last_used_at is None or now - _utc(token.last_used_at) >= touch_every:
        db.session.execute(
            update(FeedToken).where(FeedToken.id == token.id).values(last_used_at=now)
        )
        wrote = True
    # The receipt's columns are NOT NULL: all present when the token has a latest receipt.
    receipt_formats, fetched_at = token.receipt_formats, token.receipt_fetched_at
    if (
        token.receipt_id is not None
        and token.receipt_etag == content_key
        and receipt_formats is not None
        and fetched_at is not None
    ):
        formats = receipt_formats.split(",")
        if delivered is None and fmt not in formats:
            return wrote  # a 304 in a format this token never received: nothing was sent
        if delivered is None or _same_revisions(token, delivered):
            if fmt in formats and now - _utc(fetched_at) < touch_every:
                return wrote
            last = db.session.get_one(FeedReceipt, token.receipt_id)
            last.fetch_count = FeedReceipt.fetch_count + 1  # in SQL: concurrent fetches all count
            last.last_fetched_at = now
            if fmt not in formats:
                last.formats = ",".join(sorted([*formats, fmt]))
            db.session.flush()
            return True
    if delivered is None:
        return wrote  # a 304 for content this token has no receipt of: nothing was sent
    agent = clean_user_agent(user_agent)
    receipt = FeedReceipt(
        token_id=token.id,
        tenant_id=token.tenant_id,
        formats=fmt,
        first_fetched_at=now,
        last_fetched_at=now,
        fetch_count=1,
        user_agent=agent,
        etag=content_key,
        revisions=delivered,
    )
    db.session.add(receipt)
    db.session.flush()
    point_to_latest(token.id, receipt.id)
    entry = record(
        "feed.fetched",
        subject_type="feed_receipt",
        subject_id=receipt.id,
        actor=f"feed reader ({token.name})",
        now=now,
        tenant_id=token.tenant_id,
        payload={
            "token_id": token.id,
            "token_prefix": token.prefix,
            "format": fmt,
            "content": content_key,
            "revisions": json.loads(delivered),
            "user_agent": agent,
        },
    )
    receipt.ledger_seq = entry.seq
    return True


def _same_revisions(token: ActiveToken, delivered: str) -> bool:
    """Whether the token's latest receipt names exactly the ``delivered`` revisions (both
    canonical JSON). They come with the token when the body did; otherwise (a 200 after stale
    validators, rare) the receipt is read by primary key."""
    known = token.receipt_revisions
    if known is None:
        known = db.session.execute(
            select(FeedReceipt.revisions).where(FeedReceipt.id == token.receipt_id)
        ).scalar_one()
    return known == delivered


def point_to_latest(token_id: int, receipt_id: int) -> None:
    """Make ``receipt_id`` the token's ``latest_receipt_id`` unless a newer receipt already is.

    Only ever raised, so receipts of one token written in any order leave it at the newest
    (largest id), what ``max(id)`` would say; an id that finds no receipt of this token is
    replaced whatever its value, so a stray one cannot make every later fetch write a receipt.
    Two writers of one token at the same moment may leave it one receipt behind on PostgreSQL
    (the second sees the first's id but not yet its receipt); the next poll then writes one
    receipt more, never one less. One UPDATE in the caller's transaction.
    """
    pointed = exists().where(
        FeedReceipt.id == FeedToken.latest_receipt_id, FeedReceipt.token_id == FeedToken.id
    )
    db.session.execute(
        update(FeedToken)
        .where(
            FeedToken.id == token_id,
            or_(
                FeedToken.latest_receipt_id.is_(None),
                FeedToken.latest_receipt_id < receipt_id,
                ~pointed,
            ),
        )
        .values(latest_receipt_id=receipt_id)
        .execution_options(synchronize_session=False)
    )


def _utc(value: dt.datetime) -> dt.datetime:
    """Core column reads skip no type processing, but be safe with naive SQLite values."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


@dataclass(frozen=True)
class ReceiptEvidence:
    """One receipt as it concerns one change: which revision of it the reader received."""

    receipt_id: int
    token_id: int
    token_name: str
    token_prefix: str
    revision_number: int
    formats: list[str]
    first_fetched_at: dt.datetime
    last_fetched_at: dt.datetime
    fetch_count: int
    user_agent: str
    ledger_seq: int | None
    ledger_hash: str | None


def receipts_for(change_id: int, tenant_id: int) -> list[ReceiptEvidence]:
    """Every fetch receipt of ``tenant_id`` whose content contained ``change_id``, oldest first."""
    rows = db.session.execute(
        select(FeedReceipt, FeedToken)
        .join(FeedToken, FeedToken.id == FeedReceipt.token_id)
        .where(
            FeedReceipt.tenant_id == tenant_id,
            FeedReceipt.revisions.contains(f"[{int(change_id)},", autoescape=True),
        )
        .order_by(FeedReceipt.first_fetched_at, FeedReceipt.id)
    ).all()
    seqs = [r.ledger_seq for r, _ in rows if r.ledger_seq is not None]
    hashes = (
        dict(
            db.session.execute(
                select(LedgerEntry.seq, LedgerEntry.hash).where(LedgerEntry.seq.in_(seqs))
            ).all()
        )
        if seqs
        else {}
    )
    evidence = []
    for receipt, token in rows:
        revision = dict((c, r) for c, r in json.loads(receipt.revisions)).get(int(change_id))
        if revision is None:
            continue
        evidence.append(
            ReceiptEvidence(
                receipt.id,
                token.id,
                token.name,
                token.prefix,
                revision,
                receipt.formats.split(","),
                receipt.first_fetched_at,
                receipt.last_fetched_at,
                receipt.fetch_count,
                receipt.user_agent,
                receipt.ledger_seq,
                hashes.get(receipt.ledger_seq) if receipt.ledger_seq is not None else None,
            )
        )
    return evidence


def tenant_receipts(tenant_id: int, limit: int = 20) -> list[FeedReceipt]:
    """A tenant's most recent receipts, newest first (for its settings page)."""
    return list(
        db.session.execute(
            select(FeedReceipt)
            .options(joinedload(FeedReceipt.token))
            .where(FeedReceipt.tenant_id == tenant_id)
            .order_by(FeedReceipt.last_fetched_at.desc(), FeedReceipt.id.desc())
            .limit(limit)
        ).scalars()
    )
