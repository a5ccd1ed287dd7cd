"""Answering a feed request: fingerprint first, body only when the client needs it.

A public feed's request costs one primary-key read when it ends in 304, and one more to fetch the
stored body for a 200; a private feed's request reads all of it with its token in one statement
(``portal.feeds.tokens``). Only changed content is rebuilt, and stored in ``feed_bodies`` for
every worker: nothing lives in process memory between requests.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import zlib
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import ETags
from werkzeug.http import parse_date

from portal import reads
from portal.extensions import db
from portal.feeds import builders, versions
from portal.feeds.content import (
    Fingerprint,
    Scope,
    entries,
    fingerprint,
    revision_pairs,
)
from portal.feeds.models import FeedBody
from portal.ledger.services import canonical_json
from portal.ledger.witness import stamp_feed


@dataclass(frozen=True)
class FeedState:
    """The validators of one feed in one format, from the fingerprint alone."""

    scope: Scope
    fmt: str
    fingerprint: Fingerprint

    @property
    def etag(self) -> str:
        return self.fingerprint.etag(self.fmt)

    @property
    def last_modified(self) -> dt.datetime:
        """When the content last changed, in whole seconds (UTC): strictly later for every
        version (``portal.feeds.versions``); the feeds' start of time while empty."""
        return self.fingerprint.last_modified or builders.EPOCH

    def last_modified_header(self, now: dt.datetime) -> dt.datetime:
        """The Last-Modified to send at ``now``: never later than the response's own date
        (RFC 9110 §8.8.2.1 says to send the date instead). A client holding that earlier value
        gets the content again once, never a 304 it should not have."""
        return min(self.last_modified, now.astimezone(dt.UTC).replace(microsecond=0))


@dataclass(frozen=True)
class FeedOptions:
    """What shapes every feed body besides its entries (from the configuration)."""

    base_url: str
    author: tuple[str, str]  # (name, email) of whoever signs the notices
    refresh: dt.timedelta  # calendars' polling hint

    @functools.cached_property
    def salt(self) -> str:
        """Folded into every ETag, so a configuration change is a content change."""
        return f"{self.base_url}|{self.author}|{int(self.refresh.total_seconds())}"


def feed_state(
    scope: Scope,
    fmt: str,
    limit: int,
    options: FeedOptions,
    known: versions.Version | None = None,
) -> FeedState:
    """The current validators of a feed (one primary-key read, none if ``known``)."""
    return FeedState(scope, fmt, fingerprint(scope, limit, salt=options.salt, known=known))


def is_not_modified(
    state: FeedState,
    if_none_match: ETags | None,
    if_modified_since: str | None,
    now: dt.datetime,
) -> bool:
    """Whether the client already holds this content (a 304), per RFC 9110 §13.2.2.

    If-None-Match decides when present; else If-Modified-Since, which matches only when the
    content's Last-Modified is not later than the date given. That Last-Modified is exact (one
    per version, later than the change itself), so content changed within the same second as
    the client's last fetch is never taken as unchanged. Unparseable validators, and dates in
    the future (RFC 9110 §13.1.3: the server cannot have sent them), never match, so garbage
    gets a full 200.
    """
    if if_none_match:
        return if_none_match.contains_weak(state.etag.strip('"'))
    if if_modified_since:
        since = parse_date(if_modified_since)
        return since is not None and state.last_modified <= since <= now.astimezone(dt.UTC)
    return False


_WHERE_SCOPE = (FeedBody.scope == bindparam("scope"), FeedBody.format == bindparam("format"))
_STORED_BODY = select(FeedBody.etag, FeedBody.body_gzip, FeedBody.revisions).where(*_WHERE_SCOPE)


class StoredBody(NamedTuple):
    """A ``feed_bodies`` row as read: its ETag, gzip-compressed body and the canonical JSON
    [[change_id, revision_number], …] it was built from (None each when there is no row)."""

    etag: str | None
    body_gzip: bytes | None
    revisions: str | None


class ServedBody(NamedTuple):
    """The body a 200 carries, whether it was (re)built, and the canonical JSON
    [[change_id, revision_number], …] of exactly that body: what its fetch receipt records."""

    body: bytes
    built: bool
    revisions: str


def gzip_body(body: bytes) -> bytes:
    """``body`` gzip-compressed (RFC 1952), the same bytes for the same body (no timestamp)."""
    return gzip.compress(body, compresslevel=6, mtime=0)


def _stored_form(data: bytes, gzipped: bool) -> bytes | None:
    """A stored gzip body as the reader wants it, or None when it is not a gzip stream. The
    gzip readers' path checks only the magic bytes (RFC 1952 §2.3.1), not to inflate every
    poll; the plain path inflates, which checks the CRC too."""
    if not data.startswith(b"\x1f\x8b"):
        return None
    if gzipped:
        return data
    try:
        return gunzip_body(data)
    except (zlib.error, EOFError):
        return None


def gunzip_body(data: bytes) -> bytes:
    """The plain bytes of a body stored by :func:`gzip_body` (``zlib.error`` if corrupt)."""
    return zlib.decompress(data, wbits=31)  # 31: a gzip header and trailer (RFC 1952)


def feed_body(
    state: FeedState,
    *,
    limit: int,
    options: FeedOptions,
    self_url: str | None,
    now: dt.datetime,
    gzipped: bool = False,
    stored: StoredBody | None = None,
) -> ServedBody:
    """The body for ``state``: the stored one if its ETag still holds, else built and stored
    in both forms (flushed; the caller commits); with the revisions it shows.

    ``gzipped``: the gzip-compressed bytes are wanted (the client accepts gzip), else the
    plain ones. ``stored`` is the stored row when the caller read it already (a private feed
    reads it with its token); otherwise it is read here. The revisions come from the same row
    as the body, or from the entries it was built from, never from a later read: a revision
    committed meanwhile by another worker is not in this body, so its receipt must not claim
    it (DESIGN.md "Feeds": receipts are evidence).

    A stored body is always read in its gzip form, even for a reader that wants it plain:
    carrying a tenth of the bytes from the database and inflating them here (about 0.1 ms for
    a 150 kB feed) is cheaper than carrying the text (bench/feeds.py, bench/README.md). The
    text column stays for operators reading the table.
    """
    if stored is None:
        row = reads.first(_STORED_BODY, {"scope": state.scope.key, "format": state.fmt})
        stored = StoredBody(*row) if row is not None else StoredBody(None, None, None)
    etag, data, stored_revisions = stored
    if data is not None and etag == state.etag and stored_revisions is not None:
        served = _stored_form(bytes(data), gzipped)
        if served is not None:
            return ServedBody(served, False, stored_revisions)
        # A stored body that is not gzip (a damaged or hand-edited row) is only a cache:
        # rebuilt from the changes and stored again below, never a 500.
    items = entries(state.scope, limit)
    body = builders.build(
        state.fmt,
        state.scope,
        items,
        base_url=options.base_url,
        author=options.author,
        refresh=options.refresh,
        self_url=self_url,
        last_modified=state.fingerprint.changed_at,
    )
    body = stamp_feed(state.scope, state.fmt, body)  # the latest ledger checkpoint (issue 13)
    compressed = gzip_body(body)
    pairs = canonical_json(revision_pairs(items))
    if etag is not None:
        db.session.execute(
            update(FeedBody)
            .where(FeedBody.scope == state.scope.key, FeedBody.format == state.fmt)
            .values(
                etag=state.etag,
                body=body.decode(),
                body_gzip=compressed,
                revisions=pairs,
                built_at=now,
            )
        )
    else:
        _insert_body(state, body.decode(), compressed, pairs, now)
    return ServedBody(compressed if gzipped else body, True, pairs)


def _insert_body(
    state: FeedState, body: str, compressed: bytes, pairs: str, now: dt.datetime
) -> None:
    """Store a new body; if another worker stored one first, theirs is as good as ours."""
    try:
        with db.session.begin_nested():
            db.session.add(
                FeedBody(
                    scope=state.scope.key,
                    format=state.fmt,
                    etag=state.etag,
                    revisions=pairs,
                    body=body,
                    body_gzip=compressed,
                    built_at=now,
                )
            )
    except IntegrityError:
        pass
