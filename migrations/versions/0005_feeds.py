"""feeds: feed tokens, fetch receipts, rendered feed bodies, upstream feeds

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

Reserved slot in the chain for the feeds feature.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "feed_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_feed_tokens_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_feed_tokens_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_feed_tokens_token_hash")),
    )
    with op.batch_alter_table("feed_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feed_tokens_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "feed_bodies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("etag", sa.String(length=80), nullable=False),
        sa.Column("revisions", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_bodies")),
        sa.UniqueConstraint("scope", "format", name=op.f("uq_feed_bodies_scope_format")),
    )

    op.create_table(
        "feed_versions",
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_feed_versions")),
    )

    op.create_table(
        "upstream_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_result", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_upstream_feeds_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["platform_teams.id"],
            name=op.f("fk_upstream_feeds_team_id_platform_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_feeds")),
    )
    with op.batch_alter_table("upstream_feeds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_upstream_feeds_team_id"), ["team_id"], unique=False)

    op.create_table(
        "feed_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("formats", sa.String(length=32), nullable=False),
        sa.Column("first_fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fetch_count", sa.Integer(), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("revisions", sa.Text(), nullable=False),
        sa.Column("ledger_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_feed_receipts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["feed_tokens.id"],
            name=op.f("fk_feed_receipts_token_id_feed_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_receipts")),
    )
    with op.batch_alter_table("feed_receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feed_receipts_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_feed_receipts_token_id"), ["token_id"], unique=False)

    op.create_table(
        "upstream_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upstream_feed_id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.String(length=500), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["changes.id"],
            name=op.f("fk_upstream_entries_change_id_changes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["upstream_feed_id"],
            ["upstream_feeds.id"],
            name=op.f("fk_upstream_entries_upstream_feed_id_upstream_feeds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_entries")),
        sa.UniqueConstraint(
            "upstream_feed_id",
            "entry_key",
            name=op.f("uq_upstream_entries_upstream_feed_id_entry_key"),
        ),
    )
    with op.batch_alter_table("upstream_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_upstream_entries_upstream_feed_id"), ["upstream_feed_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("upstream_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upstream_entries_upstream_feed_id"))
    op.drop_table("upstream_entries")
    with op.batch_alter_table("feed_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_receipts_token_id"))
        batch_op.drop_index(batch_op.f("ix_feed_receipts_tenant_id"))
    op.drop_table("feed_receipts")
    with op.batch_alter_table("upstream_feeds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upstream_feeds_team_id"))
    op.drop_table("upstream_feeds")
    op.drop_table("feed_versions")
    op.drop_table("feed_bodies")
    with op.batch_alter_table("feed_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_tokens_tenant_id"))
    op.drop_table("feed_tokens")
