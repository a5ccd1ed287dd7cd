"""feeds: store rendered feed bodies as text

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

Feed bodies are UTF-8 text (XML or iCalendar). As bytea, PostgreSQL sends them hex-encoded,
twice their size, and every private feed request that serves a stored body paid for it. The
rows are a cache rebuilt on the next request, so they are dropped rather than converted.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DELETE FROM feed_bodies")
    with op.batch_alter_table("feed_bodies", schema=None) as batch_op:
        batch_op.drop_column("body")
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=False))


def downgrade():
    op.execute("DELETE FROM feed_bodies")
    with op.batch_alter_table("feed_bodies", schema=None) as batch_op:
        batch_op.drop_column("body")
        batch_op.add_column(sa.Column("body", sa.LargeBinary(), nullable=False))
