"""Operations tables: one heartbeat row per running delivery worker.

A worker upserts its row every ``WORKER_HEARTBEAT_SECONDS`` with the time and what it last
found about the mail relay; ``/readyz`` and the metrics read the rows (DESIGN.md "Defaults and
scale": health checks). Times are real UTC wall-clock time, never the demo's travelled clock.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import Model
from portal.sqltypes import UTCDateTime


class WorkerHeartbeat(Model):
    """The last sign of life of one delivery worker (``forewarn worker`` or the demo's)."""

    __tablename__ = "worker_heartbeats"

    worker: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    # What the worker last found when it talked to the relay (None: not tried yet).
    relay_ok: Mapped[bool | None] = mapped_column(Boolean)
    relay_error: Mapped[str | None] = mapped_column(Text)
    relay_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
