"""feeds: store each rendered feed body gzip-compressed too

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30

Feed readers ask for gzip (Accept-Encoding); a feed body is text that compresses about
tenfold, so each stored body keeps its gzip form beside the text and a reader that accepts it
gets those bytes with Content-Encoding: gzip. Stored bodies are a cache of what the feed
builders make from the changes: they are emptied here and rebuilt on the next request.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DELETE FROM feed_bodies")
    with op.batch_alter_table("feed_bodies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_gzip", sa.LargeBinary(), nullable=False))


def downgrade():
    with op.batch_alter_table("feed_bodies", schema=None) as batch_op:
        batch_op.drop_column("body_gzip")
