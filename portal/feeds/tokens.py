"""Feed tokens: the secrets in a tenant's private feed URLs.

A secret is 32 URL-safe characters (192 random bits), shown once when issued and stored only
as its SHA-256. Anything that does not look like a secret is turned away before the database
is asked, and every failure looks the same to the caller (a bare 404).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, bindparam, func, select

from portal import reads
from portal.errors import Conflict, InvalidInput, NotFound
from portal.extensions import db
from portal.feeds.models import FeedBody, FeedReceipt, FeedToken, FeedVersion
from portal.feeds.versions import scope_expression
from portal.ledger.services import record
from portal.tenants.models import Tenant

SECRET_BYTES = 24  # 192 bits, encoded as 32 URL-safe characters
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")
PREFIX_LENGTH = 6


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_feed_token(tenant, name: str, *, actor, now: dt.datetime) -> tuple[FeedToken, str]:
    """Create a named token for ``tenant``; returns it and the secret (shown once, not stored)."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("give the feed token a name, e.g. the reader that uses it", field="name")
    if len(name) > 100:
        raise InvalidInput("the name is longer than 100 characters", field="name")
    cap = int(current_app.config.get("FEED_TOKEN_MAX_PER_TENANT") or 0)
    if cap and active_token_count(tenant) >= cap:
        raise Conflict(
            f"this organisation already has {cap} active feed tokens, the most allowed; "
            "revoke one first",
            field="name",
        )
    secret = secrets.token_urlsafe(SECRET_BYTES)
    token = FeedToken(
        tenant_id=tenant.id,
        name=name,
        token_hash=hash_secret(secret),
        prefix=secret[:PREFIX_LENGTH],
        created_by_id=actor.id,
        created_at=now,
    )
    db.session.add(token)
    db.session.flush()
    record(
        "feed_token.issued",
        subject_type="feed_token",
        subject_id=token.id,
        actor=actor,
        now=now,
        tenant_id=tenant.id,
        payload={"name": token.name, "prefix": token.prefix},
    )
    return token, secret


def tenant_token_or_404(tenant, token_id: int) -> FeedToken:
    """One of ``tenant``'s tokens; another tenant's token is a 404."""
    token = db.session.execute(
        select(FeedToken).where(FeedToken.id == token_id, FeedToken.tenant_id == tenant.id)
    ).scalar_one_or_none()
    if token is None:
        raise NotFound("no such feed token")
    return token


def revoke_feed_token(tenant, token_id: int, *, actor, now: dt.datetime) -> FeedToken:
    """Revoke a token: its URLs answer 404 from now on. Revoking twice changes nothing."""
    token = tenant_token_or_404(tenant, token_id)
    if token.revoked_at is None:
        token.revoked_at = now
        record(
            "feed_token.revoked",
            subject_type="feed_token",
            subject_id=token.id,
            actor=actor,
            now=now,
            tenant_id=tenant.id,
            payload={"name": token.name, "prefix": token.prefix},
        )
    return token


def rotate_feed_token(tenant, token_id: int, *, actor, now: dt.datetime) -> tuple[FeedToken, str]:
    """Revoke a token and issue a new one under the same name; returns the new secret."""
    old = tenant_token_or_404(tenant, token_id)
    if old.revoked_at is not None:
        raise InvalidInput("that token is already revoked; create a new one instead")
    revoke_feed_token(tenant, token_id, actor=actor, now=now)
    return issue_feed_token(tenant, old.name, actor=actor, now=now)


@dataclass(frozen=True)
class ActiveToken:
    """What serving a feed needs to know about a token — its tenant, the tenant feed's version,
    the token's latest receipt and, when asked for, the feed's stored body in one format — read
    in one statement without ORM objects (this runs on every feed request)."""

    id: int
    tenant_id: int
    tenant_name: str
    name: str
    prefix: str
    last_used_at: dt.datetime | None
    feed_version: int | None
    feed_changed_at: dt.datetime | None
    feed_last_modified_epoch: int | None
    receipt_id: int | None
    receipt_etag: str | None
    receipt_formats: str | None
    receipt_fetched_at: dt.datetime | None
    body_etag: str | None = None
    body: bytes | None = None  # gzip-compressed (``portal.feeds.serving.feed_body``)
    body_revisions: str | None = None  # the canonical JSON pairs the body was built from
    receipt_revisions: str | None = None  # the latest receipt's pairs, read with the body


_TENANT_SCOPE = scope_expression("tenant", FeedToken.tenant_id)

_ACTIVE_TOKEN = (
    select(
        FeedToken.id,
        FeedToken.tenant_id,
        Tenant.name,
        FeedToken.name,
        FeedToken.prefix,
        FeedToken.last_used_at,
        FeedVersion.version,
        FeedVersion.changed_at,
        FeedVersion.last_modified_epoch,
        FeedReceipt.id,
        FeedReceipt.etag,
        FeedReceipt.formats,
        FeedReceipt.last_fetched_at,
    )
    .join(Tenant, Tenant.id == FeedToken.tenant_id)
    .outerjoin(FeedVersion, FeedVersion.scope == _TENANT_SCOPE)
    # The token's newest receipt by primary key (``FeedToken.latest_receipt_id``), and only if
    # it is this token's: a stray id must not count this token's fetch as another's.
    .outerjoin(
        FeedReceipt,
        and_(FeedReceipt.id == FeedToken.latest_receipt_id, FeedReceipt.token_id == FeedToken.id),
    )
    .where(FeedToken.token_hash == bindparam("token_hash"), FeedToken.revoked_at.is_(None))
)
# A request without validators will need the body: fetch the stored one in the same statement,
# in its gzip form whatever the client accepts (a tenth of the bytes to carry; see
# ``portal.feeds.serving.feed_body``).
_STORED = and_(FeedBody.scope == _TENANT_SCOPE, FeedBody.format == bindparam("format"))
# The latest receipt's revisions come too: a 200 of content that receipt names must deliver the
# same revisions to be counted in it (``portal.feeds.receipts.record_fetch``).
_ACTIVE_TOKEN_WITH_BODY = _ACTIVE_TOKEN.add_columns(
    FeedBody.etag, FeedBody.body_gzip, FeedBody.revisions, FeedReceipt.revisions
).outerjoin(FeedBody, _STORED)


def token_for_secret(secret: str, *, with_body: str | None = None) -> ActiveToken | None:
    """The active token with this secret, or None (malformed secrets never reach the database).

    ``with_body`` names a format whose stored body (its gzip-compressed bytes, its ETag and the
    revisions it shows) should come along.
    """
    if not isinstance(secret, str) or not SECRET_PATTERN.fullmatch(secret):
        return None
    params = {"token_hash": hash_secret(secret)}
    if with_body is None:
        row = reads.first(_ACTIVE_TOKEN, params)
    else:
        row = reads.first(_ACTIVE_TOKEN_WITH_BODY, {**params, "format": with_body})
    return ActiveToken(*row) if row is not None else None


def tenant_tokens_query(tenant):
    """A query for a tenant's tokens, active first, newest first (for a paginated list)."""
    return (
        select(FeedToken)
        .where(FeedToken.tenant_id == tenant.id)
        .order_by(
            FeedToken.revoked_at.is_not(None), FeedToken.created_at.desc(), FeedToken.id.desc()
        )
    )


def tenant_tokens(tenant) -> list[FeedToken]:
    """A tenant's tokens, active first, newest first."""
    return list(db.session.execute(tenant_tokens_query(tenant)).scalars())


def active_token_count(tenant) -> int:
    """How many of the tenant's feed tokens are not revoked (issue 17: capped per tenant)."""
    return db.session.execute(
        select(func.count())
        .select_from(FeedToken)
        .where(FeedToken.tenant_id == tenant.id, FeedToken.revoked_at.is_(None))
    ).scalar_one()
