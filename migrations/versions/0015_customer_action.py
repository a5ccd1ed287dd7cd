"""changes: what customers need to do, and by when

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30

Two optional fields on a change (issue 15 item 1, like Microsoft 365 Message Center's "Act
by" and "What you need to do to prepare"): ``customer_action`` (Markdown, sanitised when shown)
and ``act_by`` (UTC, never after the start). Both are part of every revision's snapshot.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("customer_action", sa.Text(), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("act_by", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_column("act_by")
        batch_op.drop_column("customer_action")
