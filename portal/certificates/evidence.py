"""The ledger entries a certificate cites, found by subject, action, seq, or delivery.

A contractual delivery (an outbox row of kind ``notice`` that was accepted or failed for good)
is backed either by its own entry (subject ``("outbox_message", id)``, actions
``notice.delivered`` / ``notice.failed``) or by an entry about the tenant's notice that lists
it among several deliveries (the dispatcher has written both shapes: a batch entry's payload
holds lists of deliveries, each naming its recipient and Message-ID, and possibly the outbox
id). The certificate accepts either, so it does not depend on how the dispatcher batches its
ledger writes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import overload

from sqlalchemy import select

from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.ledger.services import entries_for
from portal.notify.models import OutboxMessage

DELIVERY_ACTIONS = ("notice.delivered", "notice.failed")
_ID_KEYS = ("outbox_id", "outbox_message_id", "message_row_id")


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


class Evidence:
    """Ledger entries about the change and tenant, found by subject, action or seq."""

    def __init__(self, change_id: int, tenant_id: int, extra_seqs: set[int]):
        entries = entries_for(change_id=change_id, tenant_id=tenant_id)
        self.by_seq = {e.seq: e for e in entries}
        missing = {s for s in extra_seqs if s is not None and s not in self.by_seq}
        if missing:
            self._add(
                db.session.execute(
                    select(LedgerEntry).where(LedgerEntry.seq.in_(missing))
                ).scalars()
            )
        self._index()

    def _add(self, entries) -> None:
        self.by_seq.update({e.seq: e for e in entries})

    def _index(self) -> None:
        self.by_subject: dict[tuple[str, str], list[LedgerEntry]] = defaultdict(list)
        self.listed: dict[tuple, list[LedgerEntry]] = defaultdict(list)
        for entry in sorted(self.by_seq.values(), key=lambda e: e.seq):
            self.by_subject[(entry.subject_type, entry.subject_id)].append(entry)
            if entry.action.startswith("notice.") and entry.subject_type != "outbox_message":
                for key in _listed_deliveries(entry):
                    self.listed[key].append(entry)

    def load_outbox_entries(self, outbox_ids: list[int]) -> None:
        """Also load per-delivery entries not filed under this change and tenant (one query)."""
        wanted = [str(i) for i in outbox_ids if not self.by_subject.get(("outbox_message", str(i)))]
        if not wanted:
            return
        found = list(
            db.session.execute(
                select(LedgerEntry).where(
                    LedgerEntry.subject_type == "outbox_message",
                    LedgerEntry.subject_id.in_(wanted),
                    LedgerEntry.action.in_(DELIVERY_ACTIONS),
                )
            ).scalars()
        )
        if found:
            self._add(found)
            self._index()

    @staticmethod
    @overload
    def cite(entry: LedgerEntry, **extra) -> dict: ...

    @staticmethod
    @overload
    def cite(entry: None, **extra) -> None: ...

    @staticmethod
    def cite(entry: LedgerEntry | None, **extra) -> dict | None:
        if entry is None:
            return None
        return {
            "seq": entry.seq,
            "hash": entry.hash,
            "action": entry.action,
            "at": iso(entry.at),
            **extra,
        }

    def seq(self, seq: int | None) -> dict | None:
        return self.cite(self.by_seq.get(seq)) if seq is not None else None

    def subject(
        self,
        subject_type: str,
        subject_id,
        *,
        action: str | None = None,
        revision: int | None = None,
    ) -> list[LedgerEntry]:
        found = self.by_subject.get((subject_type, str(subject_id)), [])
        if action is not None:
            found = [e for e in found if e.action == action]
        if revision is not None:
            found = [e for e in found if json.loads(e.payload).get("revision") == revision]
        return found

    def first(self, *args, **kwargs) -> dict | None:
        found = self.subject(*args, **kwargs)
        return self.cite(found[0]) if found else None

    def delivery(self, message: OutboxMessage) -> list[dict]:
        """The entries backing one contractual delivery: its own, else a batch entry listing
        it (by outbox id, by Message-ID, or by revision and recipient), oldest first."""
        own = [
            e for e in self.subject("outbox_message", message.id) if e.action in DELIVERY_ACTIONS
        ]
        if own:
            return [self.cite(e) for e in own]
        for key in (
            ("id", message.id),
            ("message_id", message.message_id) if message.message_id else None,
            ("recipient", message.revision_number, message.recipient.lower()),
        ):
            if key is not None and self.listed.get(key):
                return [self.cite(e, listed_in_batch=True) for e in self.listed[key]]
        return []


def _listed_deliveries(entry: LedgerEntry) -> set[tuple]:
    """Keys of the deliveries a batch entry lists (any list of objects in its payload)."""
    try:
        payload = json.loads(entry.payload)
    except ValueError:
        return set()
    if not isinstance(payload, dict):
        return set()
    keys: set[tuple] = set()
    for value in payload.values():
        if not isinstance(value, list):
            continue
        for item in value:
            if not isinstance(item, dict):
                continue
            for name in _ID_KEYS:
                if isinstance(item.get(name), int):
                    keys.add(("id", item[name]))
            if item.get("message_id"):
                keys.add(("message_id", item["message_id"]))
            revision = item.get("revision", payload.get("revision"))
            if item.get("recipient") and revision is not None:
                keys.add(("recipient", revision, str(item["recipient"]).lower()))
    return keys
