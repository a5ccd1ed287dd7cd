"""acks: acknowledgements, objections, waivers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

Reserved slot in the chain for the acks feature; it fills in its tables here.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
