"""Authentication and API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select

from portal.auth.models import ApiToken, User
from portal.auth.passwords import check_against_nobody
from portal.errors import Conflict, InvalidInput, NotFound
from portal.extensions import db
from portal.ledger.services import record

TOKEN_PREFIX = "fw_"  # noqa: S105  (not a secret: makes leaked tokens easy to spot)


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).scalar_one_or_none()


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, else None: the same answer, in the same
    time, for an unknown address, an inactive user and a wrong password (a password is
    hashed in every case, so timing does not tell which addresses have accounts)."""
    user = find_user_by_email(email or "")
    if user is None or not user.active or not user.password_hash:
        check_against_nobody(password)
        return None
    if not user.check_password(password or ""):
        return None
    return user


def is_safe_next(target: str | None) -> bool:
    """Only same-site relative paths may be used as a post-login redirect."""
    if not target:
        return False
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return False
    parts = urlsplit(target)
    return (
        not parts.scheme
        and not parts.netloc
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
    )


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    user: User, name: str, *, now: dt.datetime, days: int | None
) -> tuple[ApiToken, str]:
    """Create a token; returns it and the secret, which is shown once and never stored."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("give the token a name", field="name")
    cap = int(current_app.config.get("API_TOKEN_MAX_PER_USER") or 0)
    if cap and usable_token_count(user, now) >= cap:
        raise Conflict(
            f"you already have {cap} usable API tokens, the most allowed; revoke one first",
            field="name",
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 random bits
    token = ApiToken(
        user_id=user.id,
        name=name[:100],
        token_hash=hash_token(secret),
        prefix=secret[:10],
        created_at=now,
        expires_at=now + dt.timedelta(days=days) if days else None,
    )
    db.session.add(token)
    db.session.flush()
    record(
        "api_token.issued",
        subject_type="api_token",
        subject_id=token.id,
        actor=user,
        now=now,
        payload={
            "user_id": user.id,
            "name": token.name,
            "prefix": token.prefix,
            "expires_at": token.expires_at,
        },
    )
    return token, secret


def usable_token_count(user: User, now: dt.datetime) -> int:
    """How many of ``user``'s API tokens are neither revoked nor expired at ``now``."""
    return db.session.execute(
        select(func.count())
        .select_from(ApiToken)
        .where(
            ApiToken.user_id == user.id,
            ApiToken.revoked_at.is_(None),
            (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now),
        )
    ).scalar_one()


def tokens_of(user: User):
    """A query for ``user``'s API tokens, usable first, newest first (for a paginated list)."""
    return (
        select(ApiToken)
        .where(ApiToken.user_id == user.id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())
    )


def revoke_token(user: User, token_id: int, *, now: dt.datetime) -> ApiToken:
    """Revoke one of the user's own tokens (admins may revoke anyone's)."""
    token = db.session.get(ApiToken, token_id)
    if token is None or (token.user_id != user.id and not user.is_admin):
        raise NotFound("no such token")
    if token.revoked_at is None:
        token.revoked_at = now
        record(
            "api_token.revoked",
            subject_type="api_token",
            subject_id=token.id,
            actor=user,
            now=now,
            payload={"user_id": token.user_id, "prefix": token.prefix},
        )
    return token


def user_for_token(secret: str, now: dt.datetime) -> User | None:
    """The active owner of a usable token, or None."""
    if len(secret) > 200:
        return None
    token = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(secret))
    ).scalar_one_or_none()
    if token is None or not token.usable_at(now) or not token.user.active:
        return None
    # Touch at most once a minute to keep polling pipelines from writing on every request.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        token.last_used_at = now
        db.session.commit()
    return token.user
