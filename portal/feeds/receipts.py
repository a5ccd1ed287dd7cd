"""Fetch receipts: evidence that a tenant's feed reader received given change revisions.

Every successful fetch with a tenant token (200 or 304) is counted. A new receipt row, and a
``feed.fetched`` ledger entry, are written only when the content differs from the token's last
receipt; otherwise that receipt's count and last-fetch time move. The certificate feature reads
them through ``receipts_for``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from portal.extensions import db
from portal.feeds.models import FeedReceipt, FeedToken
from portal.ledger.models import LedgerEntry
from portal.ledger.services import canonical_json, record

USER_AGENT_MAX = 300
# A token's last_used_at moves at most this often, so a steady poller costs no extra write.
LAST_USED_GRANULARITY = dt.timedelta(minutes=5)


def clean_user_agent(value: str | None) -> str:
    """Printable characters only, at most 300 of them."""
    return "".join(ch for ch in (value or "") if ch.isprintable())[:USER_AGENT_MAX]


def record_fetch(token: FeedToken, *, content_key: str, fmt: str, user_agent: str | None,
                 revisions: Callable[[], list[list[int]]], now: dt.datetime) -> FeedReceipt:
    """Count one fetch of content ``content_key`` by ``token``. Flushes; the caller commits.

    ``revisions`` is called only when a new receipt is written (the content changed).
    """
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY:
        token.last_used_at = now
    last = db.session.execute(
        select(FeedReceipt).where(FeedReceipt.token_id == token.id)
        .order_by(FeedReceipt.id.desc()).limit(1)
    ).scalar_one_or_none()
    if last is not None and last.etag == content_key:
        last.fetch_count = FeedReceipt.fetch_count + 1  # in SQL: concurrent fetches all count
        last.last_fetched_at = now
        formats = last.formats.split(",")
        if fmt not in formats:
            last.formats = ",".join(sorted([*formats, fmt]))
        db.session.flush()
        return last
    pairs = revisions()
    agent = clean_user_agent(user_agent)
    receipt = FeedReceipt(token_id=token.id, tenant_id=token.tenant_id, formats=fmt,
                          first_fetched_at=now, last_fetched_at=now, fetch_count=1,
                          user_agent=agent, etag=content_key, revisions=canonical_json(pairs))
    db.session.add(receipt)
    db.session.flush()
    entry = record("feed.fetched", subject_type="feed_receipt", subject_id=receipt.id,
                   actor=f"feed reader ({token.name})", now=now, tenant_id=token.tenant_id,
                   payload={"token_id": token.id, "token_prefix": token.prefix, "format": fmt,
                            "content": content_key, "revisions": pairs,
                            "user_agent": agent})
    receipt.ledger_seq = entry.seq
    return receipt


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
        .where(FeedReceipt.tenant_id == tenant_id,
               FeedReceipt.revisions.contains(f"[{int(change_id)},", autoescape=True))
        .order_by(FeedReceipt.first_fetched_at, FeedReceipt.id)
    ).all()
    seqs = [r.ledger_seq for r, _ in rows if r.ledger_seq is not None]
    hashes = dict(db.session.execute(
        select(LedgerEntry.seq, LedgerEntry.hash).where(LedgerEntry.seq.in_(seqs))
    ).all()) if seqs else {}
    evidence = []
    for receipt, token in rows:
        revision = dict((c, r) for c, r in json.loads(receipt.revisions)).get(int(change_id))
        if revision is None:
            continue
        evidence.append(ReceiptEvidence(
            receipt.id, token.id, token.name, token.prefix, revision,
            receipt.formats.split(","), receipt.first_fetched_at, receipt.last_fetched_at,
            receipt.fetch_count, receipt.user_agent, receipt.ledger_seq,
            hashes.get(receipt.ledger_seq)))
    return evidence


def tenant_receipts(tenant_id: int, limit: int = 20) -> list[FeedReceipt]:
    """A tenant's most recent receipts, newest first (for its settings page)."""
    return list(db.session.execute(
        select(FeedReceipt).where(FeedReceipt.tenant_id == tenant_id)
        .order_by(FeedReceipt.last_fetched_at.desc(), FeedReceipt.id.desc()).limit(limit)
    ).scalars())
