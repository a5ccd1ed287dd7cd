"""Platform teams, their services and components, and which tenants use what."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import Model

if TYPE_CHECKING:
    from portal.auth.models import User
    from portal.tenants.models import Tenant


class PlatformTeam(Model):
    __tablename__ = "platform_teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))

    memberships: Mapped[list[TeamMembership]] = relationship(
        back_populates="team", cascade="all, delete-orphan"
    )
    services: Mapped[list[Service]] = relationship(back_populates="team")


class TeamMembership(Model):
    """An engineer's membership of a team; ``is_approver`` grants emergency approval."""

    __tablename__ = "team_memberships"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(
        ForeignKey("platform_teams.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    is_approver: Mapped[bool] = mapped_column(Boolean, default=False)

    team: Mapped[PlatformTeam] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")


class Service(Model):
    """Something a platform team owns and customers build on, e.g. "Face Fusion API"."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    team_id: Mapped[int] = mapped_column(ForeignKey("platform_teams.id"), index=True)

    team: Mapped[PlatformTeam] = relationship(back_populates="services")
    components: Mapped[list[Component]] = relationship(
        back_populates="service", cascade="all, delete-orphan", order_by="Component.name"
    )


class Component(Model):
    """A part or region of a service (e.g. "eu-west"), to target changes more narrowly."""

    __tablename__ = "components"
    __table_args__ = (UniqueConstraint("service_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))

    service: Mapped[Service] = relationship(back_populates="components")


class Usage(Model):
    """Tenant *t* uses service *s* (all of it when component_id is NULL, else one component)."""

    __tablename__ = "usages"
    __table_args__ = (UniqueConstraint("tenant_id", "service_id", "component_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    component_id: Mapped[int | None] = mapped_column(
        ForeignKey("components.id", ondelete="CASCADE"), index=True
    )

    tenant: Mapped[Tenant] = relationship(back_populates="usages")
    service: Mapped[Service] = relationship()
    component: Mapped[Component | None] = relationship()
