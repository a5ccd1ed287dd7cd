"""changes: the revision that started each tenant

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

A progressive start releases some tenants; its "started" notice goes only to them, and a later
start's only to the tenants it released (DESIGN.md "The affected set moves"). Rows started
before this column existed keep NULL: their start notice was sent already.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("change_tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("started_revision", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("change_tenants", schema=None) as batch_op:
        batch_op.drop_column("started_revision")
