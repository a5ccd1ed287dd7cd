"""Acknowledgements, objections and waivers: a tenant's answers to a change's notice.

Each row belongs to one (change, tenant) and names the material revision it answers
(``revision_number`` = ``ChangeTenant.clock_revision`` at the time), so a material revision
asks for a fresh answer while the old ones stay in history. ``ledger_seq`` points at the
ledger entry written in the same transaction, which certificates cite.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import Model
from portal.sqltypes import UTCDateTime

if TYPE_CHECKING:
    from portal.auth.models import User
    from portal.tenants.models import Tenant

# How an acknowledgement or waiver arrived.
CHANNEL_EMAIL = "email"
CHANNEL_PORTAL = "portal"
CHANNEL_API = "api"
CHANNEL_OFFLINE = "offline"  # recorded by an account manager, naming who agreed


class Acknowledgement(Model):
    """One acknowledgement by a user or a notice contact. The first per (change, tenant,
    material revision) ``counts``; later ones by other people are kept as "seen".

    ``actor_key`` ("user:<id>" or "contact:<email>") makes a replay by the same person for the
    same revision impossible at the database level.
    """

    __tablename__ = "acknowledgements"
    __table_args__ = (
        UniqueConstraint("change_id", "tenant_id", "revision_number", "actor_key"),
        Index("ix_acknowledgements_counted", "change_id", "tenant_id", "revision_number", "counts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    revision_number: Mapped[int] = mapped_column(Integer)
    counts: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str] = mapped_column(String(16))
    actor_key: Mapped[str] = mapped_column(String(300))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recipient: Mapped[str | None] = mapped_column(String(254))
    actor_label: Mapped[str] = mapped_column(String(300))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger)

    tenant: Mapped[Tenant] = relationship()
    user: Mapped[User | None] = relationship()


class Objection(Model):
    """A tenant's request to postpone, with its reason, and the owning team's answer."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    revision_number: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    answered_by_label: Mapped[str | None] = mapped_column(String(300))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answer_ledger_seq: Mapped[int | None] = mapped_column(BigInteger)

    tenant: Mapped[Tenant] = relationship()

    @property
    def is_open(self) -> bool:
        return self.answered_at is None


class Waiver(Model):
    """Consent to an earlier rollout for one tenant: opens its gate at the start time.

    ``agreed_by`` names the tenant's person who consented (the tenant admin themself, or the
    person an account manager spoke to for an offline waiver).
    """

    __tablename__ = "waivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    revision_number: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_by_label: Mapped[str] = mapped_column(String(300))
    agreed_by: Mapped[str] = mapped_column(String(300))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger)

    tenant: Mapped[Tenant] = relationship()
