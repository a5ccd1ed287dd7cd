"""feeds: public listings (withdrawn public changes) and an exact Last-Modified per feed

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29

- ``public_listings``: which changes each service's public feeds show, and which ones left them
  (made private, retargeted), so the public calendar can show those cancelled. Filled from the
  changes that are public now.
- ``feed_versions.last_modified_epoch``: the feed's HTTP Last-Modified in whole seconds,
  strictly increasing per version. Existing rows get the second after their ``changed_at``.
"""

import datetime as dt

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "public_listings",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("public_revision", sa.Integer(), nullable=False),
        sa.Column("withdrawn_revision", sa.Integer(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["changes.id"],
            name=op.f("fk_public_listings_change_id_changes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_public_listings_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_id", "change_id", name=op.f("pk_public_listings")),
    )
    with op.batch_alter_table("public_listings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_public_listings_change_id"), ["change_id"], unique=False
        )
    op.execute(
        """
        INSERT INTO public_listings
            (service_id, change_id, listed, public_revision, withdrawn_revision, changed_at)
        SELECT DISTINCT t.service_id, c.id, true, c.revision_number, CAST(NULL AS INTEGER),
               c.updated_at
        FROM changes c JOIN change_targets t ON t.change_id = c.id
        WHERE c.visibility = 'public' AND c.published_at IS NOT NULL
          AND c.status IN ('scheduled', 'in_progress', 'completed', 'cancelled')
        """
    )

    with op.batch_alter_table("feed_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_modified_epoch", sa.Integer(), server_default="0", nullable=False)
        )
    bind = op.get_bind()
    versions = sa.table(
        "feed_versions",
        sa.column("scope", sa.String),
        sa.column("changed_at", sa.DateTime(timezone=True)),
        sa.column("last_modified_epoch", sa.Integer),
    )
    for scope, changed_at in bind.execute(sa.select(versions.c.scope, versions.c.changed_at)):
        if isinstance(changed_at, str):  # SQLite without the model's column type
            changed_at = dt.datetime.fromisoformat(changed_at)
        if changed_at.tzinfo is None:
            changed_at = changed_at.replace(tzinfo=dt.UTC)
        bind.execute(
            versions.update()
            .where(versions.c.scope == scope)
            .values(last_modified_epoch=int(changed_at.timestamp()) + 1)
        )


def downgrade():
    with op.batch_alter_table("feed_versions", schema=None) as batch_op:
        batch_op.drop_column("last_modified_epoch")
    with op.batch_alter_table("public_listings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_public_listings_change_id"))
    op.drop_table("public_listings")
