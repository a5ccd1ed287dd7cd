"""Signed checkpoints of the ledger's Merkle tree (C2SP tlog-checkpoint + signed-note).

The worker calls ``issue_checkpoint_if_due(now)`` after each round: when entries were
appended since the last checkpoint and ``LEDGER_CHECKPOINT_INTERVAL_SECONDS`` have passed, it
signs (origin, tree size, root hash) with the key from ``portal.ledger.keys``, stores the
signed note (every one is kept) and writes it to ``LEDGER_WITNESS_FILE`` too, a copy outside
the database that ``forewarn ledger verify`` checks even after the tables were wiped.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from forewarn_verify.notes import Checkpoint, NoteError, open_checkpoint
from portal.extensions import db
from portal.ledger import keys, tree
from portal.ledger.models import LedgerCheckpoint, LedgerHead

log = logging.getLogger(__name__)


def latest() -> LedgerCheckpoint | None:
    """The most recent stored checkpoint (largest tree, then newest)."""
    return db.session.scalars(
        select(LedgerCheckpoint)
        .order_by(LedgerCheckpoint.tree_size.desc(), LedgerCheckpoint.id.desc())
        .limit(1)
    ).first()


def at_size(size: int) -> LedgerCheckpoint | None:
    return db.session.scalars(
        select(LedgerCheckpoint)
        .where(LedgerCheckpoint.tree_size == size)
        .order_by(LedgerCheckpoint.id.desc())
        .limit(1)
    ).first()


def issue(now: dt.datetime) -> LedgerCheckpoint | None:
    """Sign and store a checkpoint of the whole ledger now, unless the latest one already
    covers it (or the ledger is empty). Locks the ledger head so the size and root belong to
    one state; flushes, the caller commits. Raises ``keys.KeyMissing`` without a key."""
    signer = keys.signer()
    head = db.session.execute(
        select(LedgerHead).where(LedgerHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    size = head.seq if head else 0
    last = latest()
    if size == 0 or (last is not None and last.tree_size >= size):
        return None
    root = tree.root(size)
    note = signer.sign(Checkpoint(keys.origin(), size, root).text())
    row = LedgerCheckpoint(
        tree_size=size,
        root_hash=root,
        note=note,
        verifier_key=signer.verifier.encoded(),
        issued_at=now,
    )
    db.session.add(row)
    db.session.flush()
    return row


def issue_checkpoint_if_due(now: dt.datetime) -> LedgerCheckpoint | None:
    """The worker's hook: issue and commit a checkpoint if entries were appended since the last
    one and ``LEDGER_CHECKPOINT_INTERVAL_SECONDS`` (UTC seconds) have passed since it was
    issued; returns it, or None. Without a signing key it logs once and does nothing."""
    if not keys.has_signer():
        if not _warned:
            _warned.append(True)
            log.warning("no ledger signing key (run `forewarn ledger keygen`): no checkpoints")
        return None
    last = latest()
    head_seq = db.session.scalar(select(LedgerHead.seq).where(LedgerHead.id == 1)) or 0
    if last is not None:
        interval = float(current_app.config.get("LEDGER_CHECKPOINT_INTERVAL_SECONDS", 10))
        if head_seq <= last.tree_size or now - last.issued_at < dt.timedelta(seconds=interval):
            return None
    row = issue(now)
    db.session.commit()
    if row is not None:
        write_witness(row.note)
        log.info("ledger checkpoint issued: %s entries", row.tree_size)
    return row


_warned: list[bool] = []


def witness_path() -> Path:
    configured = current_app.config.get("LEDGER_WITNESS_FILE")
    if configured:
        return Path(configured)
    return Path(current_app.instance_path, "ledger-checkpoint.txt")


def write_witness(note: str) -> None:
    """Keep the latest signed checkpoint in a file beside the key (atomic replace)."""
    path = witness_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(note)
        tmp.replace(path)
    except OSError as err:
        log.warning("could not write the ledger witness file %s: %s", path, err)


def read_witness() -> str | None:
    try:
        return witness_path().read_text()
    except OSError:
        return None


def open_stored(note: str) -> Checkpoint:
    """A stored or witnessed checkpoint, its signature checked against the trusted keys
    (``keys.trusted_verifiers``) and its origin against ours; raises ``NoteError``."""
    return open_checkpoint(note, keys.trusted_verifiers(), keys.origin())[0]


def prepare_demo(*, reset: bool) -> None:
    """The demo signs checkpoints like production: a key in its instance folder, made once;
    a reset database also forgets the old witness file (it described the deleted ledger)."""
    if reset:
        witness_path().unlink(missing_ok=True)
    if not keys.key_path().exists():
        keys.keygen()


__all__ = ["NoteError", "issue", "issue_checkpoint_if_due", "latest", "open_stored", "prepare_demo"]
