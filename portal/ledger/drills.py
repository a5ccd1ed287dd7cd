"""What someone with write access to the database could do to the ledger, for the tamper
drills (``bench/tamper.py``) and the tests that prove each is detected.

``rewrite(transform)`` is the strongest rewrite short of stealing the signing key: it reads
every entry, lets ``transform`` edit, insert, drop or reorder them, then recomputes the whole
hash chain, the head and the stored Merkle tree so that they agree with each other again.
Never called by the portal itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sqlalchemy import delete, insert, select

from forewarn_verify.rfc9162 import CompactRange, leaf_hash
from portal.extensions import db
from portal.ledger.models import LedgerEntry, LedgerHead, LedgerTreeNode
from portal.ledger.services import GENESIS, fields_body

_FIELDS = [c.key for c in LedgerEntry.__table__.columns if c.key != "hash"]


def rewrite(transform: Callable[[list[dict]], list[dict]]) -> None:
    """Replace the ledger by ``transform(entries)`` (dicts of the columns), renumbered and
    re-hashed, with a matching head and tree. Flushes; the caller commits."""
    rows = [
        {k: getattr(r, k) for k in _FIELDS}
        for r in db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))
    ]
    rows = transform(rows)
    db.session.execute(delete(LedgerEntry))
    db.session.execute(delete(LedgerTreeNode))
    prev, tree, nodes, out = GENESIS, CompactRange(), [], []
    for seq, fields in enumerate(rows, start=1):
        fields = {**fields, "seq": seq, "prev_hash": prev}
        body = fields_body(**fields)
        fields["hash"] = prev = hashlib.sha256(body).hexdigest()
        out.append(fields)
        nodes += [{"level": lv, "index": i, "hash": h} for lv, i, h in tree.append(leaf_hash(body))]
    for start in range(0, len(out), 5000):
        db.session.execute(insert(LedgerEntry), out[start : start + 5000])
    for start in range(0, len(nodes), 5000):
        db.session.execute(insert(LedgerTreeNode), nodes[start : start + 5000])
    head = db.session.get_one(LedgerHead, 1)
    head.seq, head.hash = len(out), prev
    db.session.flush()
