"""mailbox: demo mailbox (caught mail)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Reserved slot in the chain for the mailbox feature; it fills in its tables here.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
