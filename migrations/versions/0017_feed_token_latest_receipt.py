"""feeds: each token keeps the id of its newest receipt, so a poll reads it by primary key

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30

Every feed poll reads its token's newest receipt with the token. Found as ``max(id)`` of the
token's receipts inside the poll's statement, it cost PostgreSQL a subplan on every poll, and
the poll's statement about a tenth of a 304's throughput (issue #14, bench/README.md). The
token now holds that id (``feed_tokens.latest_receipt_id``, set with each new receipt), and the
poll joins the receipt by its primary key. Existing tokens get the id of their newest receipt.
"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("feed_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("latest_receipt_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE feed_tokens SET latest_receipt_id = "
        "(SELECT max(feed_receipts.id) FROM feed_receipts "
        "WHERE feed_receipts.token_id = feed_tokens.id)"
    )


def downgrade():
    with op.batch_alter_table("feed_tokens", schema=None) as batch_op:
        batch_op.drop_column("latest_receipt_id")
