"""Models of the feeds feature: feed tokens, fetch receipts, rendered feed bodies, upstream feeds.

- ``FeedToken``: a tenant's secret for its private feeds; only a SHA-256 of it is stored.
- ``FeedReceipt``: evidence that a token fetched given content (which change revisions), one
  row per distinct content, bumped (count, last time) while the content stays the same.
- ``FeedBody``: the last rendered body of one feed, keyed by its ETag, shared by every web
  worker through the database (nothing is cached in process memory).
- ``FeedVersion``: a counter per feed scope, bumped in the transaction of every revision that
  touches the scope, so a feed request learns whether its content changed from one row.
- ``PublicListing``: a change's place in one service's public feeds, kept after the change
  leaves them (made private, retargeted), so calendars see it cancelled.
- ``UpstreamFeed`` / ``UpstreamEntry``: a supplier changelog a platform team imports into
  draft changes, and the entries already imported (deduplication).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import Model
from portal.sqltypes import UTCDateTime

if TYPE_CHECKING:
    from portal.auth.models import User
    from portal.catalog.models import PlatformTeam
    from portal.tenants.models import Tenant


class FeedToken(Model):
    """A named, revocable secret that opens one tenant's private feeds."""

    __tablename__ = "feed_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # First characters of the secret, so people can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The id of this token's newest receipt (the largest), set with each new receipt in the
    # same transaction (``portal.feeds.receipts``), so every poll finds that receipt by its
    # primary key: a join the planner makes cheaply, where ``max(id)`` in the poll's statement
    # cost a subplan on each poll (issue #14, bench/README.md). A hint, not a foreign key:
    # feed_receipts already references feed_tokens, and SQLite could add the reverse
    # reference only by rebuilding this table. Receipts go only with their token; a value that
    # finds no receipt of this token is ignored by the poll and replaced by its next receipt.
    latest_receipt_id: Mapped[int | None] = mapped_column(Integer)

    tenant: Mapped[Tenant] = relationship()
    created_by: Mapped[User | None] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class FeedReceipt(Model):
    """Proof that a token's reader received given content: the change revisions it contained."""

    __tablename__ = "feed_receipts"
    # A token's newest receipt is ``max(id)`` for the token (``FeedToken.latest_receipt_id``
    # keeps it): with (token_id, id) that is one index descent, whatever the table holds. With
    # token_id alone PostgreSQL walked the primary key backwards past every newer receipt of
    # other tokens.
    __table_args__ = (Index("ix_feed_receipts_token_id_id", "token_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("feed_tokens.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # Formats (rss, atom, ics) that served this content, comma-separated.
    formats: Mapped[str] = mapped_column(String(32))
    first_fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    fetch_count: Mapped[int] = mapped_column(Integer, default=1)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    # Fingerprint of the content (the format-independent part of the feeds' ETags).
    etag: Mapped[str] = mapped_column(String(64))
    # Canonical JSON list of [change_id, revision_number] the content contained.
    revisions: Mapped[str] = mapped_column(Text)
    ledger_seq: Mapped[int | None] = mapped_column(Integer)

    token: Mapped[FeedToken] = relationship()

    def revision_pairs(self) -> list[tuple[int, int]]:
        return [(int(c), int(r)) for c, r in json.loads(self.revisions)]


class FeedBody(Model):
    """The latest rendered body of one feed (scope + format), valid while its ETag holds."""

    __tablename__ = "feed_bodies"
    __table_args__ = (UniqueConstraint("scope", "format"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "tenant:<id>" or "service:<id>".
    scope: Mapped[str] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(8))
    etag: Mapped[str] = mapped_column(String(80))
    revisions: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)  # UTF-8 text: PostgreSQL sends bytea hex-encoded
    # The same bytes gzip-compressed (RFC 1952), for readers that accept gzip: about a tenth
    # of the size, which is what a request reads from the database and sends.
    body_gzip: Mapped[bytes] = mapped_column(LargeBinary)
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class FeedVersion(Model):
    """How often a feed's content has changed, and when it last did.

    One row per scope ("tenant:<id>" or "service:<id>"), bumped by
    ``portal.feeds.versions.bump_for_change`` in the same transaction as each revision of a change
    in that scope. ETags and Last-Modified derive from it, so a conditional request costs one
    primary-key read instead of an aggregate over the tenant's changes.
    """

    __tablename__ = "feed_versions"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The feed's HTTP Last-Modified, in Unix seconds: later than ``changed_at`` and strictly
    # greater for every new version, so an If-Modified-Since (one-second resolution) can never
    # take two versions for one (``portal.feeds.versions``). 0 when a row was written without
    # it: the second after ``changed_at`` is used.
    last_modified_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PublicListing(Model):
    """A change in one service's public feeds, or a change that was there and left.

    ``listed`` while the change is published, public and targets the service. When a revision
    takes it out (made "affected customers only", retargeted off the service), the row stays
    with ``listed`` false: the public calendar keeps a cancelled event for it, rendered from the
    last revision the public saw (``public_revision``), so subscribed calendars drop it. Kept in
    step by ``portal.feeds.public.sync_public_listing`` in the transaction of every revision.
    """

    __tablename__ = "public_listings"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    change_id: Mapped[int] = mapped_column(
        ForeignKey("changes.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    listed: Mapped[bool] = mapped_column(Boolean, default=True)
    # The last revision shown publicly, and the one that took the change out (None while listed).
    public_revision: Mapped[int] = mapped_column(Integer)
    withdrawn_revision: Mapped[int | None] = mapped_column(Integer)
    # When the listing last changed (listed, revised while listed, or withdrawn).
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class UpstreamFeed(Model):
    """A supplier's changelog feed a platform team imports into draft changes."""

    __tablename__ = "upstream_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(
        ForeignKey("platform_teams.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    # The engineer who registered it becomes the author of the drafts it creates.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_result: Mapped[str] = mapped_column(String(500), default="")

    team: Mapped[PlatformTeam] = relationship()
    created_by: Mapped[User | None] = relationship()


class UpstreamEntry(Model):
    """An upstream entry already imported (by a hash of its id), and the draft it became."""

    __tablename__ = "upstream_entries"
    __table_args__ = (UniqueConstraint("upstream_feed_id", "entry_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    upstream_feed_id: Mapped[int] = mapped_column(
        ForeignKey("upstream_feeds.id", ondelete="CASCADE"), index=True
    )
    entry_key: Mapped[str] = mapped_column(String(64))
    entry_id: Mapped[str] = mapped_column(String(500))
    change_id: Mapped[int | None] = mapped_column(ForeignKey("changes.id", ondelete="SET NULL"))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
