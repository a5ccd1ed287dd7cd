"""delivery guarantees: the ledger's head row, and the equal-notice index by status

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

- The ledger's single head row is created here, not by the first append: on a fresh
  PostgreSQL database two first appends at once both found no head and collided.
- Equal notice now holds a first-party notice back while any third-party notice of the
  revision is pending or leased, whatever its attempts (issue #11): the index leads with
  (change, revision, first_party, status) so that check seeks straight to open rows.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade():
    head = sa.table(
        "ledger_head",
        sa.column("id", sa.Integer),
        sa.column("seq", sa.BigInteger),
        sa.column("hash", sa.String),
    )
    exists = op.get_bind().execute(sa.select(sa.func.count()).select_from(head)).scalar()
    if not exists:
        op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_fairness")
        batch_op.create_index(
            "ix_outbox_messages_fairness",
            ["change_id", "revision_number", "first_party", "status", "tenant_id"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_fairness")
        batch_op.create_index(
            "ix_outbox_messages_fairness",
            ["change_id", "revision_number", "kind", "first_party", "attempts"],
            unique=False,
        )
