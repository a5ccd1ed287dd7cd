"""Appending to and verifying the ledger.

``record`` is called by services in the same transaction as the state change it records;
the caller commits. Appends are serialised by locking the single ``ledger_head`` row
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serialises writers itself), which keeps the
chain linear across any number of web processes and workers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from forewarn_verify.entries import body as entry_body
from forewarn_verify.rfc9162 import leaf_hash
from portal.extensions import db
from portal.ledger import tree
from portal.ledger.models import LedgerEntry, LedgerHead

GENESIS = "0" * 64


def canonical_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, datetimes as ISO-8601 UTC."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in ledger payload")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot put {type(value).__name__} in the ledger")


def entry_hash(entry) -> str:
    """SHA-256 over every recorded field of the entry (a row or ``Appended``) and the previous
    hash."""
    return fields_hash(**{name: getattr(entry, name) for name in _HASHED})


_HASHED = (
    "seq",
    "at",
    "action",
    "actor_id",
    "actor_label",
    "subject_type",
    "subject_id",
    "tenant_id",
    "change_id",
    "payload",
    "prev_hash",
)


def fields_hash(**fields) -> str:
    """``entry_hash`` from the field values themselves (appending builds no object first)."""
    return hashlib.sha256(fields_body(**fields)).hexdigest()


def fields_body(
    *,
    seq,
    at,
    action,
    actor_id,
    actor_label,
    subject_type,
    subject_id,
    tenant_id,
    change_id,
    payload,
    prev_hash,
) -> bytes:
    """The bytes an entry's chain hash (SHA-256) and Merkle leaf (RFC 9162, 0x00 prefix)
    cover: ``forewarn_verify.entries.body`` of its fields, as the offline verifier computes."""
    return entry_body(as_certified(locals()))


def as_certified(fields: dict) -> dict:
    """An entry's fields under the names a certificate carries (``forewarn_verify.entries``)."""
    return {
        "seq": fields["seq"],
        "at": fields["at"].astimezone(dt.UTC).isoformat(),
        "action": fields["action"],
        "actor_id": fields["actor_id"],
        "actor": fields["actor_label"],
        "subject": [fields["subject_type"], fields["subject_id"]],
        "tenant_id": fields["tenant_id"],
        "change_id": fields["change_id"],
        "payload": fields["payload"],
        "prev": fields["prev_hash"],
    }


@dataclass(frozen=True)
class Fact:
    """One thing to record; see ``record``."""

    action: str
    subject_type: str
    subject_id: Any
    payload: dict
    tenant_id: int | None = None
    change_id: int | None = None


# The two dialects' INSERT … ON CONFLICT constructs (the same methods, separate classes).
_UPSERTS: dict[str, Callable[[Any], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": pg_insert,
    "sqlite": sqlite_insert,
}


def _lock_head() -> LedgerHead:
    head = db.session.execute(
        select(LedgerHead).where(LedgerHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        # Migration 0008 creates the head; a schema built otherwise gets it here, race-free:
        # of two first appends at once, one inserts and the other waits for its row.
        upsert = _UPSERTS.get(db.engine.dialect.name)
        if upsert is not None:
            db.session.execute(
                upsert(LedgerHead)
                .values(id=1, seq=0, hash=GENESIS)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            head = db.session.execute(
                select(LedgerHead).where(LedgerHead.id == 1).with_for_update()
            ).scalar_one()
        else:
            head = LedgerHead(id=1, seq=0, hash=GENESIS)
            db.session.add(head)
            db.session.flush()
    elif db.engine.dialect.name == "sqlite":
        # Take SQLite's write lock now, so the head we read cannot go stale before we write.
        db.session.execute(update(LedgerHead).where(LedgerHead.id == 1).values(seq=head.seq))
    return head


@dataclass(frozen=True, slots=True)
class Appended:
    """An entry as ``record_many`` appended it: the columns of its ``ledger_entries`` row.

    Not an ORM object: publishing to 10,000 tenants and dispatching their notices append
    thousands of entries, and building mapped instances cost more than hashing them. Read
    entries back with a query when an ORM object is needed.
    """

    seq: int
    at: dt.datetime
    action: str
    actor_id: int | None
    actor_label: str
    subject_type: str
    subject_id: str
    tenant_id: int | None
    change_id: int | None
    payload: str
    prev_hash: str
    hash: str


def record_many(facts: Iterable[Fact], *, actor, now: dt.datetime) -> list[Appended]:
    """Append several facts in order under one lock. Flushes; the caller commits."""
    facts = list(facts)
    if not facts:
        return []
    head = _lock_head()
    actor_id, actor_label = _actor(actor)
    entries, leaves = [], []
    seq, prev = head.seq, head.hash
    for fact in facts:
        seq += 1
        fields: dict[str, Any] = dict(
            seq=seq,
            at=now,
            action=fact.action,
            actor_id=actor_id,
            actor_label=actor_label,
            subject_type=fact.subject_type,
            subject_id=str(fact.subject_id),
            tenant_id=fact.tenant_id,
            change_id=fact.change_id,
            payload=canonical_json(fact.payload),
            prev_hash=prev,
        )
        body = fields_body(**fields)
        entry = Appended(**fields, hash=hashlib.sha256(body).hexdigest())
        leaves.append(leaf_hash(body))
        prev = entry.hash
        entries.append(entry)
    # One executemany rather than a unit-of-work flush per object.
    db.session.execute(
        insert(LedgerEntry),
        [{column: getattr(entry, column) for column in _COLUMNS} for entry in entries],
    )
    tree.append(head.seq, leaves)
    head.seq, head.hash = seq, prev
    db.session.flush()
    return entries


_COLUMNS = [column.key for column in LedgerEntry.__table__.columns]


def record(
    action: str,
    *,
    subject_type: str,
    subject_id: Any,
    payload: dict | None = None,
    actor=None,
    now: dt.datetime,
    tenant_id: int | None = None,
    change_id: int | None = None,
) -> Appended:
    """Append one fact to the ledger. Flushes; the caller commits with its own state change."""
    fact = Fact(action, subject_type, subject_id, payload or {}, tenant_id, change_id)
    return record_many([fact], actor=actor, now=now)[0]


def _actor(actor) -> tuple[int | None, str]:
    """Who did it: a User, or a string naming a system actor (e.g. "dispatcher")."""
    if actor is None:
        return None, "system"
    if isinstance(actor, str):
        return None, actor
    return actor.id, f"{actor.name} <{actor.email}>"


@dataclass
class Verification:
    ok: bool
    entries: int
    head_hash: str
    broken_seq: int | None = None
    reason: str = ""

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_hash": self.head_hash,
            "broken_seq": self.broken_seq,
            "reason": self.reason,
        }


def _iter_entries(batch: int = 5000) -> Iterator[LedgerEntry]:
    last = 0
    while True:
        rows = (
            db.session.execute(
                select(LedgerEntry)
                .where(LedgerEntry.seq > last)
                .order_by(LedgerEntry.seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        # Free memory batch by batch, without detaching the caller's other objects (a web
        # request issuing a certificate still needs its user and change afterwards).
        for row in rows:
            db.session.expunge(row)


def verify(progress=None, on_entry=None) -> Verification:
    """Walk the whole chain; report the first entry that was edited, removed or moved.
    ``on_entry(entry, body)`` sees each intact entry in order with its hashed bytes (the
    audit recomputes the Merkle tree from them in the same pass)."""
    prev, expected_seq, count = GENESIS, 1, 0
    for entry in _iter_entries():
        if entry.seq != expected_seq:
            return Verification(
                False,
                count,
                prev,
                expected_seq,
                f"entry {expected_seq} is missing (next found is {entry.seq})",
            )
        if entry.prev_hash != prev:
            return Verification(
                False,
                count,
                prev,
                entry.seq,
                f"entry {entry.seq} does not follow entry {entry.seq - 1} "
                "(removed, reordered or edited)",
            )
        body = fields_body(**{name: getattr(entry, name) for name in _HASHED})
        if hashlib.sha256(body).hexdigest() != entry.hash:
            return Verification(
                False,
                count,
                prev,
                entry.seq,
                f"entry {entry.seq} was altered: its content no longer matches its hash",
            )
        prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
        if on_entry is not None:
            on_entry(entry, body)
        if progress:
            progress(1)
    head = db.session.get(LedgerHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != count or head_hash != prev:
        return Verification(
            False,
            count,
            prev,
            count + 1,
            f"the chain ends at entry {count} but the head records entry "
            f"{head_seq}: entries after {count} were removed",
        )
    return Verification(True, count, prev)


def entries_for(
    *,
    change_id: int | None = None,
    tenant_id: int | None = None,
    actions: Iterable[str] | None = None,
) -> list[LedgerEntry]:
    """Ledger entries about a change and/or tenant, oldest first (for certificates)."""
    q = select(LedgerEntry).order_by(LedgerEntry.seq)
    if change_id is not None:
        q = q.where(LedgerEntry.change_id == change_id)
    if tenant_id is not None:
        q = q.where((LedgerEntry.tenant_id == tenant_id) | (LedgerEntry.tenant_id.is_(None)))
    if actions is not None:
        q = q.where(LedgerEntry.action.in_(list(actions)))
    return list(db.session.execute(q).scalars())
