"""feeds: feed tokens, fetch receipts, upstream feeds

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

Reserved slot in the chain for the feeds feature; it fills in its tables here.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
