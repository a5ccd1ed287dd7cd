"""feeds: index receipts by (token_id, id) so a poll finds its token's latest receipt at once

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30

Every feed poll reads its token's latest receipt (``max(id)`` of the token's receipts). With an
index on token_id alone, PostgreSQL answered it by walking the primary key backwards, filtering
out every newer receipt of other tokens: measured at 200,000 receipts, the poll's statement
went from 48 µs to 102 µs, and it grows with the table. With (token_id, id) it is one index
descent. The composite index also serves every lookup by token_id, so the old one goes.
"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("feed_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_feed_receipts_token_id_id", ["token_id", "id"], unique=False)
        batch_op.drop_index("ix_feed_receipts_token_id")


def downgrade():
    with op.batch_alter_table("feed_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_feed_receipts_token_id", ["token_id"], unique=False)
        batch_op.drop_index("ix_feed_receipts_token_id_id")
