"""Changes, their revisions, and each affected tenant's notice state.

These tables are shared by every later feature: delivery writes ``ChangeTenant.notice_given_at``,
feeds read published changes, acknowledgements and certificates hang off ``ChangeTenant``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import Model
from portal.sqltypes import UTCDateTime

if TYPE_CHECKING:
    from portal.auth.models import User
    from portal.catalog.models import Component, PlatformTeam, Service
    from portal.tenants.models import Tenant


# Lifecycle (DESIGN.md "Lifecycle").
DRAFT = "draft"
PENDING_APPROVAL = "pending_approval"  # emergency change awaiting a second engineer
SCHEDULED = "scheduled"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
CANCELLED = "cancelled"
STATUSES = (DRAFT, PENDING_APPROVAL, SCHEDULED, IN_PROGRESS, COMPLETED, CANCELLED)
PUBLISHED_STATUSES = (SCHEDULED, IN_PROGRESS, COMPLETED, CANCELLED)
# Which statuses allow which transition (DESIGN.md "Lifecycle"); the services enforce these and
# ``portal.changes.actions`` offers the same on the change page.
EDITABLE = (DRAFT, SCHEDULED)
STARTABLE = (SCHEDULED, IN_PROGRESS)
CANCELLABLE = (DRAFT, PENDING_APPROVAL, SCHEDULED)
COMPLETABLE = (IN_PROGRESS,)

VISIBILITY_PUBLIC = "public"
VISIBILITY_AFFECTED = "affected"


class ImpactLevel(Model):
    """An impact level with its global policy notice; ``rank`` orders levels by severity."""

    __tablename__ = "impact_levels"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(Integer)
    notice_seconds: Mapped[int] = mapped_column(Integer)


class ServicePolicy(Model):
    """A service's own (tighter) notice for one impact level; policies only add notice."""

    __tablename__ = "service_policies"
    __table_args__ = (UniqueConstraint("service_id", "impact"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    impact: Mapped[str] = mapped_column(ForeignKey("impact_levels.code", ondelete="CASCADE"))
    notice_seconds: Mapped[int] = mapped_column(Integer)

    service: Mapped[Service] = relationship()


class BlackoutWindow(Model):
    """No change may start inside it: provider-wide (tenant_id NULL) or a tenant's own."""

    __tablename__ = "blackout_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    tenant: Mapped[Tenant | None] = relationship()


class Change(Model):
    """A scheduled change to one or more services. Its current content lives here; every
    published edit is also kept as a ``Revision``."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("platform_teams.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body_md: Mapped[str] = mapped_column(Text, default="")
    # What customers need to do (Markdown, sanitised when shown; "" = nothing) and the time
    # they must do it by (UTC, never after ``starts_at``; only with a customer_action) —
    # issue 15 item 1, checked by ``portal.changes.inputs.check_customer_action``.
    customer_action: Mapped[str] = mapped_column(Text, default="", server_default="")
    act_by: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    impact: Mapped[str] = mapped_column(ForeignKey("impact_levels.code"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ack_required: Mapped[bool] = mapped_column(Boolean, default=False)
    visibility: Mapped[str] = mapped_column(String(16), default=VISIBILITY_AFFECTED)
    status: Mapped[str] = mapped_column(String(20), default=DRAFT, index=True)
    # Current revision number (1 = first publication) and the latest *material* one, from
    # which every tenant's notice clock counts.
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
    material_revision_number: Mapped[int] = mapped_column(Integer, default=0)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    short_notice: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[PlatformTeam] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    impact_level: Mapped[ImpactLevel] = relationship()
    targets: Mapped[list[ChangeTarget]] = relationship(
        back_populates="change", cascade="all, delete-orphan"
    )
    revisions: Mapped[list[Revision]] = relationship(
        back_populates="change", cascade="all, delete-orphan", order_by="Revision.number"
    )

    @property
    def is_published(self) -> bool:
        return self.status in PUBLISHED_STATUSES


class ChangeTarget(Model):
    """A service (or one component of it) the change touches."""

    __tablename__ = "change_targets"
    __table_args__ = (UniqueConstraint("change_id", "service_id", "component_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    component_id: Mapped[int | None] = mapped_column(ForeignKey("components.id"))

    change: Mapped[Change] = relationship(back_populates="targets")
    service: Mapped[Service] = relationship()
    component: Mapped[Component | None] = relationship()


class Revision(Model):
    """One published state of a change: a snapshot of its content, and whether it was
    material (restarts the notice clock) — DESIGN.md "Material revision"."""

    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("change_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    # publish | update | cancel | start | complete
    kind: Mapped[str] = mapped_column(String(20))
    material: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(Text, default="")
    snapshot: Mapped[str] = mapped_column(Text)  # canonical JSON of the change's content
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    change: Mapped[Change] = relationship(back_populates="revisions")
    author: Mapped[User | None] = relationship()


class ChangeTenant(Model):
    """One affected tenant of a published change and its notice state.

    ``notice_given_at`` is D(t) for the current material revision (``clock_revision``): the
    time the SMTP server accepted the first message of that revision for one of the tenant's
    notice contacts. It is written only by the dispatcher. The go-live gate opens at
    max(start, D(t) + N(t)), earlier only by waiver or an approved emergency.
    """

    __tablename__ = "change_tenants"
    __table_args__ = (UniqueConstraint("change_id", "tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # N(t), in seconds, and where it came from (canonical JSON list of sources).
    required_notice_seconds: Mapped[int] = mapped_column(Integer)
    notice_basis: Mapped[str] = mapped_column(Text, default="[]")
    # The material revision whose delivery starts this tenant's clock.
    clock_revision: Mapped[int] = mapped_column(Integer, default=1)
    notice_given_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Still affected? A revision that narrows the affected set keeps the row but clears this.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    waived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    emergency_approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The "start" revision that released this tenant: its started notice goes to it alone.
    started_revision: Mapped[int | None] = mapped_column(Integer)

    change: Mapped[Change] = relationship()
    tenant: Mapped[Tenant] = relationship()


class EmergencyRequest(Model):
    """A request to publish a change inside its notice window (DESIGN.md "Emergency path").

    The author writes the justification; a different engineer with the approver right on the
    owning team decides. ``decision`` is NULL while pending, then "approved" or "rejected".
    """

    __tablename__ = "emergency_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    justification: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decision: Mapped[str | None] = mapped_column(String(16))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str] = mapped_column(Text, default="")

    change: Mapped[Change] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


class NoticeBreach(Model):
    """A tenant given less notice than it is owed, by an approved emergency change.

    Read by account managers' screens and the notice certificate.
    """

    __tablename__ = "notice_breaches"
    __table_args__ = (UniqueConstraint("change_id", "tenant_id", "revision_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    revision_number: Mapped[int] = mapped_column(Integer)
    emergency_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("emergency_requests.id", ondelete="SET NULL")
    )
    required_notice_seconds: Mapped[int] = mapped_column(Integer)
    # Notice the tenant could get at most: start minus publish time.
    given_notice_seconds: Mapped[int] = mapped_column(Integer)
    justification: Mapped[str] = mapped_column(Text, default="")
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    change: Mapped[Change] = relationship()
    tenant: Mapped[Tenant] = relationship()
    approved_by: Mapped[User | None] = relationship()
