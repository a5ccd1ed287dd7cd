"""changes: changes, revisions, notice state, approvals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Reserved slot in the chain for the changes feature; it fills in its tables here.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
