"""users: session generation and must-change-password flag

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29

Issue 17 item 3. ``session_generation`` is part of the id Flask-Login keeps in the session and
the remember cookie (``<id>.<generation>``); signing out or changing the password moves it on,
which ends every session and remember cookie issued before. ``must_change_password`` marks a
temporary password set by an admin: its holder must choose their own at first sign-in.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
        batch_op.drop_column("session_generation")
