"""ledger: Merkle tree nodes and signed checkpoints

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

The Merkle tree over the ledger (RFC 9162) is stored as its perfect subtrees, so proofs need
O(log n) rows; checkpoints are kept as the signed notes that were issued. The upgrade hashes
an existing ledger into the tree in batches, so an upgraded database is complete at once.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ledger_tree_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "index", name=op.f("pk_ledger_tree_nodes")),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("verifier_key", sa.String(length=300), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checkpoints")),
    )
    with op.batch_alter_table("ledger_checkpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_checkpoints_tree_size"), ["tree_size"], unique=False
        )
    _build_tree()


def _build_tree():
    """Hash the existing entries into the tree, oldest first (batches of 5,000 rows)."""
    from forewarn_verify.entries import body
    from forewarn_verify.rfc9162 import CompactRange, leaf_hash

    conn = op.get_bind()
    entries = sa.table(
        "ledger_entries",
        *(
            sa.column(name)
            for name in (
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
        ),
    )
    nodes = sa.table("ledger_tree_nodes", sa.column("level"), sa.column("index"), sa.column("hash"))
    tree, last = CompactRange(), 0
    while True:
        rows = conn.execute(
            sa.select(entries).where(entries.c.seq > last).order_by(entries.c.seq).limit(5000)
        ).all()
        if not rows:
            return
        made = []
        for r in rows:
            fields = {
                "seq": r.seq,
                "at": _utc_iso(r.at),
                "action": r.action,
                "actor_id": r.actor_id,
                "actor": r.actor_label,
                "subject": [r.subject_type, r.subject_id],
                "tenant_id": r.tenant_id,
                "change_id": r.change_id,
                "payload": r.payload,
                "prev": r.prev_hash,
            }
            made += tree.append(leaf_hash(body(fields)))
        conn.execute(sa.insert(nodes), [{"level": lv, "index": i, "hash": h} for lv, i, h in made])
        last = rows[-1].seq


def _utc_iso(value):
    import datetime as dt

    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def downgrade():
    with op.batch_alter_table("ledger_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_checkpoints_tree_size"))
    op.drop_table("ledger_checkpoints")
    op.drop_table("ledger_tree_nodes")
