"""Signed one-click unsubscribe links for optional notices (RFC 8058 List-Unsubscribe).

A link names the kind of optional mail, the tenant and the address; following it (GET) shows a
confirm page, and a POST (what mail clients send for one-click) records the opt-out. Contractual
notices to notice contacts carry no such link and cannot be switched off.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select

from portal.auth.models import User
from portal.errors import InvalidInput
from portal.extensions import db
from portal.ledger.services import record
from portal.notify.models import REMINDER, SUBSCRIPTION, EmailPreference, ReminderOptOut

SALT = "forewarn.unsubscribe.v1"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def unsubscribe_url(row) -> str:
    """Absolute one-click unsubscribe URL for an optional outbox row."""
    token = _serializer().dumps([row.kind, row.tenant_id, row.recipient.lower()])
    return f"{current_app.config['BASE_URL'].rstrip('/')}/unsubscribe/{token}"


def read_token(token: str) -> tuple[str, int, str]:
    """(kind, tenant_id, email) from a link token, or InvalidInput."""
    try:
        data = _serializer().loads(token) if token and len(token) < 1000 else None
    except BadSignature:
        data = None
    if (
        not isinstance(data, list)
        or len(data) != 3
        or data[0] not in (REMINDER, SUBSCRIPTION)
        or not isinstance(data[1], int)
        or not isinstance(data[2], str)
    ):
        raise InvalidInput("This unsubscribe link is not valid.")
    return data[0], data[1], data[2]


def unsubscribe(kind: str, tenant_id: int, email: str, *, now: dt.datetime) -> str:
    """Stop one kind of optional mail to ``email``; returns what was switched off. Flushes."""
    if kind == REMINDER:
        exists = db.session.scalar(
            select(ReminderOptOut).where(
                ReminderOptOut.tenant_id == tenant_id, ReminderOptOut.email == email
            )
        )
        if exists is None:
            db.session.add(ReminderOptOut(tenant_id=tenant_id, email=email, created_at=now))
        what = "reminders"
    else:
        pref = db.session.scalar(
            select(EmailPreference)
            .join(User, User.id == EmailPreference.user_id)
            .where(EmailPreference.tenant_id == tenant_id, func.lower(User.email) == email)
        )
        if pref is not None:
            pref.min_impact = None
            pref.updated_at = now
        what = "optional change notices"
    record(
        "email.unsubscribed",
        subject_type="tenant",
        subject_id=tenant_id,
        tenant_id=tenant_id,
        actor=email,
        now=now,
        payload={"kind": kind, "email": email},
    )
    db.session.flush()
    return what
