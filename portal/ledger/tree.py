"""The Merkle tree over the ledger, stored as its perfect subtrees (``ledger_tree_nodes``).

Appending ``k`` entries to a tree of ``n`` reads the O(log n) nodes of its right edge and
writes the ``k`` leaves and the interior nodes they complete (fewer than ``k`` more); roots
and proofs (RFC 9162 §2.1) read O(log n) stored nodes in one query and never the entries.
The hashing and the proof shapes are those of ``forewarn_verify.rfc9162``, the same code the
offline verifier runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import and_, insert, or_, select

from forewarn_verify.rfc9162 import (
    EMPTY_ROOT,
    CompactRange,
    consistency_ranges,
    frontier,
    inclusion_ranges,
    range_hash,
    subtree_nodes,
)
from portal.extensions import db
from portal.ledger.models import LedgerTreeNode


class MissingNodes(LookupError):
    """The stored tree lacks nodes it should have (deleted rows, or a tree never built)."""


def _fetch(coords: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    by_level: dict[int, set[int]] = defaultdict(set)
    for level, index in coords:
        by_level[level].add(index)
    if not by_level:
        return {}
    rows = db.session.execute(
        select(LedgerTreeNode.level, LedgerTreeNode.index, LedgerTreeNode.hash).where(
            or_(
                *(
                    and_(LedgerTreeNode.level == level, LedgerTreeNode.index.in_(sorted(indexes)))
                    for level, indexes in by_level.items()
                )
            )
        )
    )
    found = {(level, index): bytes(h) for level, index, h in rows}
    missing = [(lv, i) for lv, idxs in by_level.items() for i in idxs if (lv, i) not in found]
    if missing:
        level, index = min(missing)
        raise MissingNodes(
            f"the stored Merkle tree has no node at level {level}, index {index} "
            f"({len(missing)} missing)"
        )
    return found


def _hashes(ranges: list[tuple[int, int]]) -> list[bytes]:
    """The MTH of each range, from stored nodes (one query for all of them)."""
    plan = [subtree_nodes(a, b) for a, b in ranges]
    nodes = _fetch(c for coords in plan for c in coords)
    return [range_hash([nodes[c] for c in coords]) for coords in plan]


def append(size: int, leaves: list[bytes]) -> None:
    """Store ``leaves`` (leaf hashes) as leaves ``size, size + 1, …`` with the interior nodes
    they complete. The caller holds the ledger head lock (``record_many``)."""
    edge = frontier(size)
    known = _fetch(edge)
    tree = CompactRange.from_nodes(size, [known[c] for c in edge])
    rows = []
    for leaf in leaves:
        rows += tree.append(leaf)
    # Straight to the driver: publishing to 10,000 tenants appends 10,000 entries, and
    # SQLAlchemy's per-row parameter processing cost more than the hashing.
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        # One statement whatever the count, with three scalar parameters (array literals and
        # one concatenated bytea): adapting 20,000-element lists cost more than the insert.
        levels = "{" + ",".join(str(lv) for lv, _i, _h in rows) + "}"
        indexes = "{" + ",".join(str(i) for _lv, i, _h in rows) + "}"
        conn.exec_driver_sql(
            'INSERT INTO ledger_tree_nodes (level, "index", hash) '
            "SELECT l, i, substring(%s::bytea from (n::integer - 1) * 32 + 1 for 32) "
            "FROM unnest(%s::smallint[], %s::bigint[]) WITH ORDINALITY AS t(l, i, n)",
            (b"".join(h for _lv, _i, h in rows), levels, indexes),
        )
        return
    mark = _MARKS.get(conn.dialect.paramstyle)
    if mark is None:  # a driver we have not met: the portable (slower) way
        db.session.execute(
            insert(LedgerTreeNode), [{"level": lv, "index": i, "hash": h} for lv, i, h in rows]
        )
        return
    marks = ", ".join([mark] * 3)
    conn.exec_driver_sql(
        f'INSERT INTO ledger_tree_nodes (level, "index", hash) VALUES ({marks})', rows
    )


_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def root(size: int) -> bytes:
    """MTH of the first ``size`` entries (RFC 9162 §2.1.1)."""
    return _hashes([(0, size)])[0] if size else EMPTY_ROOT


def inclusion_proof(index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) (RFC 9162 §2.1.3.1); ``index`` is ``seq - 1``."""
    return _hashes(inclusion_ranges(index, size))


def consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1)."""
    return _hashes(consistency_ranges(old_size, new_size))


def inclusion_proofs(indexes: list[int], size: int) -> dict[int, list[bytes]]:
    """``inclusion_proof`` of several leaves at once (one query for all their nodes)."""
    plans = {i: [subtree_nodes(a, b) for a, b in inclusion_ranges(i, size)] for i in indexes}
    nodes = _fetch(c for plan in plans.values() for coords in plan for c in coords)
    return {
        i: [range_hash([nodes[c] for c in coords]) for coords in plan] for i, plan in plans.items()
    }


def leaves(indexes: list[int]) -> dict[int, bytes]:
    """Stored leaf hashes by leaf index (missing ones are absent, not an error)."""
    if not indexes:
        return {}
    rows = db.session.execute(
        select(LedgerTreeNode.index, LedgerTreeNode.hash).where(
            LedgerTreeNode.level == 0, LedgerTreeNode.index.in_(sorted(set(indexes)))
        )
    )
    return {i: bytes(h) for i, h in rows}
