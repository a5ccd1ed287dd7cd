"""Upstream import: a supplier's changelog feed becomes draft changes of a platform team.

``forewarn feeds import`` calls ``import_upstream`` for each registered feed. It fetches with a
timeout and a size cap, parses with feedparser, and creates one *draft* change per entry it has
not seen before (by entry id). It never publishes: an engineer reviews, edits and publishes the
drafts through the normal publishing rules. A feed that is unreachable, slow, huge or malformed
is reported and skipped, and nothing is written for it but its last result.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import feedparser
import nh3
from sqlalchemy import select

from portal.access import team_ids_of
from portal.catalog.models import PlatformTeam, Service
from portal.changes.models import DRAFT, Change, ChangeTarget
from portal.errors import InvalidInput, NotFound
from portal.extensions import db
from portal.feeds.models import UpstreamEntry, UpstreamFeed
from portal.ledger.services import record

IMPORT_IMPACT = "maintenance"
DEFAULT_LEAD = dt.timedelta(days=30)
DEFAULT_DURATION = dt.timedelta(hours=1)
CHUNK = 64 * 1024


class UpstreamError(Exception):
    """Why an upstream feed was skipped, in words for the operator."""


@dataclass
class ImportResult:
    """What one feed's import did."""

    feed: UpstreamFeed
    created: list[Change] = field(default_factory=list)
    known: int = 0
    error: str | None = None

    @property
    def summary(self) -> str:
        if self.error:
            return f"skipped: {self.error}"
        return f"{len(self.created)} new draft(s), {self.known} already imported"


# --- registering -------------------------------------------------------------------------


def feeds_visible_to(user) -> list[UpstreamFeed]:
    """Admins see every upstream feed; engineers those of their teams."""
    q = select(UpstreamFeed).order_by(UpstreamFeed.created_at.desc(), UpstreamFeed.id.desc())
    if not user.is_admin:
        q = q.where(UpstreamFeed.team_id.in_(team_ids_of(user) or [-1]))
    return list(db.session.execute(q).scalars())


def teams_for(user) -> list[PlatformTeam]:
    """Teams the user may register feeds for."""
    q = select(PlatformTeam).order_by(PlatformTeam.name)
    if not user.is_admin:
        q = q.where(PlatformTeam.id.in_(team_ids_of(user) or [-1]))
    return list(db.session.execute(q).scalars())


def register_upstream_feed(
    user, *, team_id: int, name: str, url: str, now: dt.datetime
) -> UpstreamFeed:
    """Register a feed for one of the user's teams; the user becomes the drafts' author."""
    if team_id not in {t.id for t in teams_for(user)}:
        raise NotFound("no such team")
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("give a full http:// or https:// address", field="url")
    name = (name or "").strip()[:200]
    if not name:
        raise InvalidInput("give the feed a name", field="name")
    feed = UpstreamFeed(
        team_id=team_id, name=name, url=url, created_by_id=user.id, created_at=now, active=True
    )
    db.session.add(feed)
    db.session.flush()
    record(
        "upstream_feed.registered",
        subject_type="upstream_feed",
        subject_id=feed.id,
        actor=user,
        now=now,
        payload={"team_id": team_id, "name": name, "url": url},
    )
    return feed


def remove_upstream_feed(user, feed_id: int, *, now: dt.datetime) -> UpstreamFeed:
    """Stop importing a feed (drafts already created stay)."""
    feed = next((f for f in feeds_visible_to(user) if f.id == feed_id), None)
    if feed is None:
        raise NotFound("no such upstream feed")
    if feed.active:
        feed.active = False
        record(
            "upstream_feed.removed",
            subject_type="upstream_feed",
            subject_id=feed.id,
            actor=user,
            now=now,
            payload={"team_id": feed.team_id, "url": feed.url},
        )
    return feed


# --- fetching and parsing ----------------------------------------------------------------


def fetch(url: str, *, timeout: float, max_bytes: int) -> bytes:
    """GET ``url`` over http(s) within ``timeout`` seconds in all and at most ``max_bytes``."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise UpstreamError("only http:// and https:// feeds can be imported")
    request = urllib.request.Request(  # noqa: S310  (scheme checked above)
        url,
        headers={
            "User-Agent": "Forewarn upstream import",
            "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
        },
    )
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise UpstreamError(f"feed is larger than {max_bytes} bytes")
            data = bytearray()
            while chunk := response.read1(CHUNK):  # one recv at most: the deadline holds
                data += chunk
                if len(data) > max_bytes:
                    raise UpstreamError(f"feed is larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise UpstreamError(f"feed took longer than {timeout:g} s to download")
            return bytes(data)
    except urllib.error.HTTPError as err:
        raise UpstreamError(f"the server answered HTTP {err.code}") from None
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, TimeoutError):
            raise UpstreamError(f"no answer within {timeout:g} s") from None
        raise UpstreamError(f"unreachable: {reason}") from None
    except TimeoutError:
        raise UpstreamError(f"no answer within {timeout:g} s") from None
    except (http.client.HTTPException, OSError, ValueError) as err:
        raise UpstreamError(f"fetch failed: {err.__class__.__name__}") from None


def parse(data: bytes) -> list[feedparser.FeedParserDict]:
    """The entries of an RSS or Atom document; anything malformed raises ``UpstreamError``."""
    parsed = feedparser.parse(data)
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and not isinstance(problem, feedparser.CharacterEncodingOverride):
        raise UpstreamError(f"malformed feed: {str(problem)[:200]}")
    if not parsed.get("version"):
        raise UpstreamError("not an RSS or Atom feed")
    return list(parsed.entries)


# --- importing ---------------------------------------------------------------------------


def import_upstream(
    feed: UpstreamFeed, *, now: dt.datetime, timeout: float, max_bytes: int
) -> ImportResult:
    """Fetch, parse and turn new entries into draft changes. Flushes; the caller commits."""
    result = ImportResult(feed)
    try:
        target, author_id = _target_and_author(feed)
        items = parse(fetch(feed.url, timeout=timeout, max_bytes=max_bytes))
    except UpstreamError as err:
        result.error = str(err)
    else:
        known = set(
            db.session.execute(
                select(UpstreamEntry.entry_key).where(UpstreamEntry.upstream_feed_id == feed.id)
            ).scalars()
        )
        for item in items:
            entry_id = _entry_id(item)
            key = hashlib.sha256(entry_id.encode()).hexdigest()
            if key in known:
                result.known += 1
                continue
            known.add(key)
            result.created.append(_draft(feed, item, entry_id, key, target, author_id, now))
    feed.last_checked_at = now
    feed.last_result = result.summary[:500]
    db.session.flush()
    return result


def _target_and_author(feed: UpstreamFeed) -> tuple[Service, int]:
    service = db.session.execute(
        select(Service).where(Service.team_id == feed.team_id).order_by(Service.id).limit(1)
    ).scalar_one_or_none()
    if service is None:
        raise UpstreamError(f"team {feed.team.name!r} has no service to target")
    if feed.created_by_id is None:
        raise UpstreamError("the engineer who registered the feed no longer exists")
    return service, feed.created_by_id


def _entry_id(item) -> str:
    value = item.get("id") or item.get("link")
    if not value:
        value = "title:" + (item.get("title") or "") + "|" + (item.get("published") or "")
    return str(value)[:500]


def _text(value: str | None) -> str:
    """Markup stripped to plain text (the body is Markdown, rendered and sanitised later)."""
    return html.unescape(nh3.clean(value or "", tags=set())).strip()


def _entry_date(item) -> dt.datetime | None:
    parsed = item.get("published_parsed") or item.get("updated_parsed")
    if not parsed:
        return None
    return dt.datetime(*parsed[:6], tzinfo=dt.UTC)


def _draft(
    feed: UpstreamFeed,
    item,
    entry_id: str,
    key: str,
    target: Service,
    author_id: int,
    now: dt.datetime,
) -> Change:
    title = _text(item.get("title")).replace("\n", " ")[:200] or "Upstream change"
    content = item.get("content") or []
    body = _text(content[0].get("value") if content else item.get("summary"))
    link = item.get("link") or ""
    if urlsplit(link).scheme in ("http", "https") and not any(c in link for c in " <>"):
        body += f"\n\nImported from {feed.name}: <{link}>"
    when = _entry_date(item)
    starts = when if when is not None and when > now else now + DEFAULT_LEAD
    change = Change(
        team_id=feed.team_id,
        author_id=author_id,
        title=title,
        body_md=body.strip(),
        impact=IMPORT_IMPACT,
        starts_at=starts,
        ends_at=starts + DEFAULT_DURATION,
        status=DRAFT,
        created_at=now,
        updated_at=now,
    )
    db.session.add(change)
    db.session.flush()
    db.session.add(ChangeTarget(change_id=change.id, service_id=target.id))
    db.session.add(
        UpstreamEntry(
            upstream_feed_id=feed.id,
            entry_key=key,
            entry_id=entry_id,
            change_id=change.id,
            imported_at=now,
        )
    )
    record(
        "change.imported",
        subject_type="change",
        subject_id=change.id,
        change_id=change.id,
        actor="upstream import",
        now=now,
        payload={"upstream_feed_id": feed.id, "entry_id": entry_id, "title": title},
    )
    return change
