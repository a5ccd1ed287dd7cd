"""Ledger tables: the append-only chain, its head, its Merkle tree and signed checkpoints."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import Model
from portal.sqltypes import UTCDateTime


class LedgerEntry(Model):
    """One fact. ``hash`` covers every column and ``prev_hash``; ``prev_hash`` is unique, so
    the chain can never fork even if two writers race."""

    __tablename__ = "ledger_entries"

    # Position in the chain, assigned by ``record`` under the head lock (1, 2, 3 …).
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(300))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[int | None] = mapped_column(Integer, index=True)
    change_id: Mapped[int | None] = mapped_column(Integer, index=True)
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LedgerHead(Model):
    """The single row naming the last entry: appends lock it, and verify compares against it
    so that deleting the newest entries is detected too."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class LedgerTreeNode(Model):
    """One perfect subtree of the Merkle tree over the ledger (RFC 9162 §2.1): ``level`` 0
    holds leaf ``index`` (entry ``seq = index + 1``); level ``l`` index ``i`` covers leaves
    ``[i * 2**l, (i + 1) * 2**l)``. Written by ``record_many`` with the entries themselves;
    proofs read O(log n) of these rows, never the entries."""

    __tablename__ = "ledger_tree_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerCheckpoint(Model):
    """A signed checkpoint (C2SP ``tlog-checkpoint`` as an Ed25519 ``signed-note``) over the
    first ``tree_size`` entries. Every one issued is kept: customers hold copies, and
    ``forewarn ledger verify`` checks the tree against the latest."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    verifier_key: Mapped[str] = mapped_column(String(300))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
