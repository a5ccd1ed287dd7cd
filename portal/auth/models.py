"""Users and API tokens."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from portal.clock import utcnow
from portal.extensions import Model
from portal.sqltypes import UTCDateTime

if TYPE_CHECKING:
    from portal.catalog.models import TeamMembership
    from portal.tenants.models import Tenant


class User(UserMixin, Model):
    """A person: provider staff (admin, engineer, account manager) or a member of one tenant."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    # IANA zone name; None means "use my tenant's zone" (or the portal default for staff).
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # Customer users belong to exactly one tenant; provider staff to none.
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    is_tenant_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_account_manager: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Part of the session id (``get_id``): moving it on ends every session and remember cookie.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A temporary password set by someone else: its holder must choose their own first.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )

    tenant: Mapped[Tenant | None] = relationship(back_populates="users")
    memberships: Mapped[list[TeamMembership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def get_id(self) -> str:
        """Flask-Login's id in the session and the remember cookie: ``"<id>.<generation>"``."""
        return f"{self.id}.{self.session_generation or 0}"

    def end_sessions(self) -> None:
        """End every session and remember cookie of this user (sign-out, password change)."""
        self.session_generation = (self.session_generation or 0) + 1

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash and check_password_hash(self.password_hash, password))

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def is_staff(self) -> bool:
        return self.tenant_id is None

    @property
    def is_customer(self) -> bool:
        return self.tenant_id is not None

    @property
    def is_engineer(self) -> bool:
        return self.is_staff and bool(self.memberships)

    @property
    def roles(self) -> list[str]:
        """Human names of this user's roles, for display."""
        if self.is_customer:
            return ["tenant admin"] if self.is_tenant_admin else ["customer"]
        names = []
        if self.is_admin:
            names.append("admin")
        if self.is_engineer:
            approver = any(m.is_approver for m in self.memberships)
            names.append("platform engineer · approver" if approver else "platform engineer")
        if self.is_account_manager:
            names.append("account manager")
        return names or ["staff"]

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class ApiToken(Model):
    """A personal bearer token for the JSON API. Only a SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # First characters of the secret, shown so a user can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def usable_at(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
