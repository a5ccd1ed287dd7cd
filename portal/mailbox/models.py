"""Mail caught by the demo's embedded SMTP sink, so the whole notice loop is visible locally."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import Model
from portal.sqltypes import UTCDateTime


class CaughtMail(Model):
    """One message the demo SMTP sink accepted, kept byte for byte."""

    __tablename__ = "caught_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    mail_from: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    message_id: Mapped[str] = mapped_column(String(500), default="", index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)

    recipients: Mapped[list[CaughtMailRecipient]] = relationship(
        back_populates="mail", cascade="all, delete-orphan", order_by="CaughtMailRecipient.id"
    )

    @property
    def rcpt_to(self) -> list[str]:
        return [r.address for r in self.recipients]


class CaughtMailRecipient(Model):
    """One envelope recipient (RCPT TO) of a caught message, lower-cased for scoping."""

    __tablename__ = "caught_mail_recipients"

    id: Mapped[int] = mapped_column(primary_key=True)
    mail_id: Mapped[int] = mapped_column(
        ForeignKey("caught_mail.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str] = mapped_column(String(254), index=True)

    mail: Mapped[CaughtMail] = relationship(back_populates="recipients")
