"""Health: worker heartbeats, the mail relay probe, and the readiness checks of ``/readyz``.

Readiness (DESIGN.md "Defaults and scale"): the database answers, its schema is at the
migrations' head, a delivery worker's heartbeat is younger than
``READY_WORKER_MAX_AGE_SECONDS``, and that worker last reached the mail relay. Heartbeat
times are real UTC wall-clock time.
"""

from __future__ import annotations

import datetime as dt
import smtplib
from dataclasses import dataclass
from typing import Any

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db, rows_affected
from portal.ops.models import WorkerHeartbeat

CHECKS = ("database", "migrations", "worker", "relay")
STALE_HEARTBEAT_ROWS = dt.timedelta(days=1)  # rows of workers gone this long are removed


@dataclass(frozen=True)
class Check:
    """One readiness check: passed or not, and a short reason an operator can act on."""

    ok: bool
    detail: str


def probe_relay(timeout: float | None = None) -> str | None:
    """Connect to the configured relay (``MAIL_SERVER``:``MAIL_PORT``, with STARTTLS / TLS and
    login as Flask-Mail is configured), say EHLO, NOOP and QUIT, within ``timeout`` seconds
    (default ``MAIL_TIMEOUT_SECONDS``); None when it worked, else why not, in one line."""
    mail = current_app.extensions["mail"]
    where = f"{mail.server}:{mail.port}"
    if timeout is None:
        timeout = float(current_app.config.get("MAIL_TIMEOUT_SECONDS", 30))
    try:
        cls = smtplib.SMTP_SSL if mail.use_ssl else smtplib.SMTP
        host = cls(mail.server, mail.port, timeout=timeout)
        try:
            host.ehlo_or_helo_if_needed()
            if mail.use_tls:
                host.starttls()
            if mail.username and mail.password:
                host.login(mail.username, mail.password)
            host.noop()
        finally:
            try:
                host.quit()
            except (OSError, smtplib.SMTPException):
                host.close()
    except ConnectionRefusedError:
        return f"mail relay {where}: connection refused"
    except TimeoutError:
        return f"mail relay {where}: no answer within {timeout:g} s"
    except (OSError, smtplib.SMTPException) as exc:
        return f"mail relay {where}: {type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
    return None


def beat(
    worker: str,
    *,
    started_at: dt.datetime,
    now: dt.datetime,
    relay_error: str | None,
    relay_checked: bool,
) -> None:
    """Upsert ``worker``'s heartbeat at ``now`` (UTC) with its relay finding, remove rows of
    workers gone for a day, and commit. Raises SQLAlchemyError when the database is down."""
    values: dict[str, Any] = {"seen_at": now}
    if relay_checked:
        values.update(relay_ok=relay_error is None, relay_error=relay_error, relay_checked_at=now)
    updated = rows_affected(
        update(WorkerHeartbeat).where(WorkerHeartbeat.worker == worker).values(**values)
    )
    if not updated:
        db.session.add(WorkerHeartbeat(worker=worker, started_at=started_at, **values))
    db.session.execute(
        delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < now - STALE_HEARTBEAT_ROWS)
    )
    db.session.commit()


def forget(worker: str) -> None:
    """Remove a cleanly stopped worker's heartbeat (commits); errors are left to the caller."""
    db.session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.worker == worker))
    db.session.commit()


def latest_heartbeat() -> WorkerHeartbeat | None:
    """The most recently seen worker's heartbeat row, or None."""
    return db.session.scalars(
        select(WorkerHeartbeat).order_by(WorkerHeartbeat.seen_at.desc()).limit(1)
    ).first()


def live_workers(now: dt.datetime) -> int:
    """Workers seen within ``READY_WORKER_MAX_AGE_SECONDS`` of ``now`` (UTC)."""
    since = now - dt.timedelta(seconds=float(current_app.config["READY_WORKER_MAX_AGE_SECONDS"]))
    return (
        db.session.scalar(
            select(func.count())
            .select_from(WorkerHeartbeat)
            .where(WorkerHeartbeat.seen_at >= since)
        )
        or 0
    )


def migration_head() -> str | None:
    """The newest revision of the migrations folder (read once per app)."""
    cached = current_app.extensions.get("forewarn.migration_head")
    if cached is None:
        config = current_app.extensions["migrate"].migrate.get_config()
        cached = ScriptDirectory.from_config(config).get_current_head()
        current_app.extensions["forewarn.migration_head"] = cached
    return cached


def readiness(now: dt.datetime, wanted: tuple[str, ...] = CHECKS) -> dict[str, Check]:
    """Run the ``wanted`` checks (names from ``CHECKS``) at ``now`` (UTC); when the database
    is unreachable, the checks that read it say so instead of running."""
    results: dict[str, Check] = {}
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        reason = f"database unreachable ({type(getattr(exc, 'orig', exc)).__name__})"
        return {name: Check(False, reason) for name in wanted}
    if "database" in wanted:
        results["database"] = Check(True, "reachable")
    if "migrations" in wanted:
        with db.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        head = migration_head()
        results["migrations"] = (
            Check(True, f"at {head}")
            if current == head
            else Check(
                False,
                f"database at {current or 'no revision'}, code expects {head}: "
                "run `forewarn db upgrade`",
            )
        )
    if "worker" in wanted or "relay" in wanted:
        max_age = float(current_app.config["READY_WORKER_MAX_AGE_SECONDS"])
        try:
            beat_row = latest_heartbeat()
        except SQLAlchemyError:  # e.g. a schema older than the heartbeat table
            db.session.rollback()
            unread = Check(False, "worker heartbeats cannot be read (is the schema current?)")
            results.update({name: unread for name in ("worker", "relay") if name in wanted})
            return results
        age = None if beat_row is None else (now - beat_row.seen_at).total_seconds()
        fresh = age is not None and age <= max_age
        if "worker" in wanted:
            if beat_row is None:
                results["worker"] = Check(False, "no delivery worker heartbeat yet")
            else:
                results["worker"] = Check(
                    fresh, f"last heartbeat {age:.0f} s ago (limit {max_age:g} s)"
                )
        if "relay" in wanted:
            if beat_row is None or not fresh or beat_row.relay_ok is None:
                results["relay"] = Check(False, "no recent report from a delivery worker")
            elif beat_row.relay_ok:
                results["relay"] = Check(True, "reachable (as the worker last found it)")
            else:
                results["relay"] = Check(False, beat_row.relay_error or "unreachable")
    return results
