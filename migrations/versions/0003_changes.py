"""changes: changes, revisions, notice state, approvals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Emergency approval requests and the notice breaches approved emergencies leave behind.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "emergency_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["changes.id"],
            name=op.f("fk_emergency_requests_change_id_changes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_emergency_requests_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_emergency_requests_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_requests")),
    )
    with op.batch_alter_table("emergency_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_emergency_requests_change_id"), ["change_id"], unique=False
        )

    op.create_table(
        "notice_breaches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("emergency_request_id", sa.Integer(), nullable=True),
        sa.Column("required_notice_seconds", sa.Integer(), nullable=False),
        sa.Column("given_notice_seconds", sa.Integer(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by_id"],
            ["users.id"],
            name=op.f("fk_notice_breaches_approved_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["changes.id"],
            name=op.f("fk_notice_breaches_change_id_changes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["emergency_request_id"],
            ["emergency_requests.id"],
            name=op.f("fk_notice_breaches_emergency_request_id_emergency_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_notice_breaches_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_breaches")),
        sa.UniqueConstraint(
            "change_id",
            "tenant_id",
            "revision_number",
            name=op.f("uq_notice_breaches_change_id_tenant_id_revision_number"),
        ),
    )
    with op.batch_alter_table("notice_breaches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notice_breaches_change_id"), ["change_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notice_breaches_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("notice_breaches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_breaches_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_notice_breaches_change_id"))
    op.drop_table("notice_breaches")
    with op.batch_alter_table("emergency_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emergency_requests_change_id"))
    op.drop_table("emergency_requests")
