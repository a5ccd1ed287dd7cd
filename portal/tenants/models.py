"""Tenants (customer organisations), their notice contacts, contract terms and managers."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import Model
from portal.sqltypes import UTCDateTime

if TYPE_CHECKING:
    from portal.auth.models import User
    from portal.catalog.models import Service, Usage


class Tenant(Model):
    """One customer organisation. First-party tenants get exactly the same treatment."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="tenant")
    contacts: Mapped[list[NoticeContact]] = relationship(
        back_populates="tenant", cascade="all, delete-orphan", order_by="NoticeContact.email"
    )
    contract_terms: Mapped[list[ContractTerm]] = relationship(
        back_populates="tenant", cascade="all, delete-orphan"
    )
    usages: Mapped[list[Usage]] = relationship(
        back_populates="tenant", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"


class NoticeContact(Model):
    """An address that receives a tenant's contractual notices (cannot be switched off)."""

    __tablename__ = "notice_contacts"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    tenant: Mapped[Tenant] = relationship(back_populates="contacts")


class ContractTerm(Model):
    """Notice a tenant's contract demands: for every service (service_id NULL) or one service.

    Contract terms only ever add notice: the required notice is the maximum of everything
    that applies (DESIGN.md "Core concepts").
    """

    __tablename__ = "contract_terms"
    __table_args__ = (UniqueConstraint("tenant_id", "service_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    notice_seconds: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(200), default="")  # e.g. contract clause

    tenant: Mapped[Tenant] = relationship(back_populates="contract_terms")
    service: Mapped[Service | None] = relationship()


class AccountManagerAssignment(Model):
    """Which account manager looks after which tenant."""

    __tablename__ = "account_manager_assignments"
    __table_args__ = (UniqueConstraint("user_id", "tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)

    user: Mapped[User] = relationship()
    tenant: Mapped[Tenant] = relationship()
