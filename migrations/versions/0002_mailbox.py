"""mailbox: demo mailbox (caught mail)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Mail caught by the demo's embedded SMTP sink and its envelope recipients.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "caught_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mail_from", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("message_id", sa.String(length=500), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caught_mail")),
    )
    with op.batch_alter_table("caught_mail", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_caught_mail_message_id"), ["message_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_caught_mail_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "caught_mail_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mail_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(
            ["mail_id"],
            ["caught_mail.id"],
            name=op.f("fk_caught_mail_recipients_mail_id_caught_mail"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caught_mail_recipients")),
    )
    with op.batch_alter_table("caught_mail_recipients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_caught_mail_recipients_address"), ["address"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_caught_mail_recipients_mail_id"), ["mail_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("caught_mail_recipients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_caught_mail_recipients_mail_id"))
        batch_op.drop_index(batch_op.f("ix_caught_mail_recipients_address"))
    op.drop_table("caught_mail_recipients")
    with op.batch_alter_table("caught_mail", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_caught_mail_received_at"))
        batch_op.drop_index(batch_op.f("ix_caught_mail_message_id"))
    op.drop_table("caught_mail")
