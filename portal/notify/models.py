"""Delivery tables: the transactional outbox, reminders sent, and email preferences.

One ``OutboxMessage`` row per (change, revision, tenant, recipient, kind) is written in the
same transaction as the change's new state (DESIGN.md "Delivery"); the dispatcher claims due
rows, sends them, and records the outcome on the row itself (status, attempts, last_error,
smtp_reply, sent_at). The account manager's desk and the change page read these rows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import Model
from portal.sqltypes import UTCDateTime

# Kinds of message.
NOTICE = "notice"  # contractual: to a tenant's notice contacts; cannot be switched off
SUBSCRIPTION = "subscription"  # optional: to a tenant user who opted in by service / impact
REMINDER = "reminder"  # optional: before the start, to tenants that have not acknowledged
ESCALATION = "escalation"  # internal: to the account managers of still-silent tenants
OBJECTION = "objection"  # internal: a tenant objected; to the owning team and its managers
APPROVAL = "approval"  # internal: an emergency request; to the team's approvers who may decide
# internal: every contact of a tenant finally failed; to its tenant admins and account managers
NOTICE_FAILED = "notice_failed"
KINDS = (NOTICE, SUBSCRIPTION, REMINDER, ESCALATION, OBJECTION, NOTICE_FAILED, APPROVAL)
STAFF_KINDS = (ESCALATION, OBJECTION, NOTICE_FAILED, APPROVAL)
# Kinds that tell a tenant about a revision: equal notice orders these (DESIGN.md "Proof").
TENANT_NOTICE_KINDS = (NOTICE, SUBSCRIPTION)
OPTIONAL_KINDS = (SUBSCRIPTION, REMINDER)

# Row states. A claimed row is "sending" until its lease (claimed_until) runs out.
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
SKIPPED = "skipped"  # a reminder no longer needed (acknowledged, cancelled) when its turn came
STATUSES = (PENDING, SENDING, SENT, FAILED, SKIPPED)


class OutboxMessage(Model):
    """One email to send (and, once sent or failed, the record of its delivery)."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint(
            "change_id",
            "revision_number",
            "tenant_id",
            "recipient",
            "kind",
            "offset_seconds",
            name="uq_outbox_messages_key",
        ),
        Index("ix_outbox_messages_due", "status", "due_at"),
        # Equal notice (portal.notify.claims.fair) seeks open third-party rows of a revision.
        Index(
            "ix_outbox_messages_fairness",
            "change_id",
            "revision_number",
            "first_party",
            "status",
            "tenant_id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"))
    revision_number: Mapped[int] = mapped_column(Integer)
    # NULL only for an internal message about no tenant in particular.
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str] = mapped_column(String(254))
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20))
    # Copied from the tenant when queued: equal notice orders first-party rows last.
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    # For reminders (and their escalations): how long before the start, in seconds; for other
    # internal messages a serial number, so a second objection is a second message; else 0.
    offset_seconds: Mapped[int] = mapped_column(Integer, default=0)
    # Free text carried into an internal message (e.g. the tenant's objection).
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    smtp_reply: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    change = relationship("Change")
    tenant = relationship("Tenant")

    @property
    def optional(self) -> bool:
        return self.kind in OPTIONAL_KINDS

    @property
    def contractual(self) -> bool:
        return self.kind == NOTICE


class ReminderRun(Model):
    """A reminder (or the escalation with the last one) queued for one (change, tenant):
    the unique key makes each reminder go out once, whatever revisions follow."""

    __tablename__ = "reminder_runs"
    __table_args__ = (UniqueConstraint("change_id", "tenant_id", "offset_seconds"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    offset_seconds: Mapped[int] = mapped_column(Integer)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    queued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class EmailPreference(Model):
    """A customer user's opt-in to optional notices: by impact level and services.

    ``min_impact`` NULL means "no optional notices". Contractual notices to the tenant's notice
    contacts are not affected by any preference.
    """

    __tablename__ = "email_preferences"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    min_impact: Mapped[str | None] = mapped_column(
        ForeignKey("impact_levels.code", ondelete="SET NULL")
    )
    all_services: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    services: Mapped[list[EmailPreferenceService]] = relationship(cascade="all, delete-orphan")


class EmailPreferenceService(Model):
    """One service a user chose to hear about (when not ``all_services``)."""

    __tablename__ = "email_preference_services"
    __table_args__ = (UniqueConstraint("preference_id", "service_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    preference_id: Mapped[int] = mapped_column(
        ForeignKey("email_preferences.id", ondelete="CASCADE"), index=True
    )
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))


class ReminderOptOut(Model):
    """An address (of a tenant) that unsubscribed from reminders with the one-click link."""

    __tablename__ = "reminder_opt_outs"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
