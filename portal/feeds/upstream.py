"""Upstream import: a supplier's changelog feed becomes draft changes of a platform team.

``forewarn feeds import`` calls ``import_upstream`` for each registered feed. It fetches with a
timeout and a size cap, parses with feedparser, and creates one *draft* change per entry it has
not seen before (by entry id). It never publishes: an engineer reviews, edits and publishes the
drafts through the normal publishing rules. A feed that is unreachable, slow, huge or malformed
is reported and skipped, and nothing is written for it but its last result.

The fetch cannot be pointed inside (SSRF): every host, after DNS resolution and on every
redirect, must be a public address unless ``FEED_IMPORT_ALLOWED_NETWORKS`` lists its network,
and every fetch failure reads only "could not fetch the feed". Entry dates the portal cannot
schedule (year 9999 …) fall back to the default lead time; titles are folded into one line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import http.client
import ipaddress
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import feedparser
import nh3
from flask import current_app
from sqlalchemy import select

from portal.access import team_ids_of
from portal.catalog.models import PlatformTeam, Service
from portal.changes.models import DRAFT, Change, ChangeTarget
from portal.errors import InvalidInput, NotFound
from portal.extensions import db
from portal.feeds.models import UpstreamEntry, UpstreamFeed
from portal.inputs import clean_text, one_line
from portal.ledger.services import record
from portal.timezones import check_time_bounds

IMPORT_IMPACT = "maintenance"
DEFAULT_LEAD = dt.timedelta(days=30)
DEFAULT_DURATION = dt.timedelta(hours=1)
CHUNK = 64 * 1024

log = logging.getLogger(__name__)


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


COULD_NOT_FETCH = "could not fetch the feed"


class AddressRefused(OSError):
    """The host resolves to an address the import may not reach (loopback, private …)."""


def address_allowed(address: str, allowed: Sequence[str] = ()) -> bool:
    """True if ``address`` (an IP literal) is a public unicast address, or lies in one of the
    operator's ``allowed`` networks (CIDR, e.g. ``"10.1.2.0/24"``, ``"127.0.0.1/32"``).

    Refused otherwise: loopback, private (RFC 1918, ULA), link-local (cloud metadata services
    at 169.254.169.254 / fd00:ec2::254), shared (100.64/10), multicast, reserved, unspecified.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for network in allowed:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def _guarded_connection(allowed: Sequence[str]):
    """``socket.create_connection`` that resolves the host once, refuses it unless every
    address it resolves to is allowed, and connects to the checked address (no second lookup
    an attacker's DNS could answer differently)."""

    def create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
        host, port = address
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if not infos or not all(address_allowed(info[4][0], allowed) for info in infos):
            raise AddressRefused(f"{host} resolves to an address outside the allow-list")
        last_error: OSError | None = None
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                    sock.settimeout(timeout)
                sock.connect(sockaddr)
                return sock
            except OSError as err:
                sock.close()
                last_error = err
        raise last_error or OSError(f"could not connect to {host}")

    return create_connection


def _opener(allowed: Sequence[str]) -> urllib.request.OpenerDirector:
    """An opener for http(s) only (redirects included: no file:, ftp:, data:), without proxies
    from the environment, whose every connection (each redirect's too) is guarded."""
    guard = _guarded_connection(allowed)

    class GuardedHTTPConnection(http.client.HTTPConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = guard

    class GuardedHTTPSConnection(http.client.HTTPSConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = guard

    class GuardedHTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(GuardedHTTPConnection, req)

    class GuardedHTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(GuardedHTTPSConnection, req, context=self._context)

    class HttpOnlyRedirectHandler(urllib.request.HTTPRedirectHandler):
        max_redirections = 5

        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if urlsplit(newurl).scheme not in ("http", "https"):
                raise UpstreamError(COULD_NOT_FETCH)
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    opener = urllib.request.OpenerDirector()
    for handler in (
        GuardedHTTPHandler(),
        GuardedHTTPSHandler(),
        HttpOnlyRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def fetch(url: str, *, timeout: float, max_bytes: int, allowed: Sequence[str] = ()) -> bytes:
    """GET ``url`` over http(s) within ``timeout`` seconds in all and at most ``max_bytes``.

    The host, and the host of every redirect, must resolve only to public addresses or to
    networks in ``allowed`` (``address_allowed``). Every failure raises ``UpstreamError``
    saying only "could not fetch the feed", so that the answer cannot be used to probe which
    hosts and ports exist inside; the reason goes to the log for the operator.
    """
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
        with _opener(allowed).open(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdecimal() and int(declared) > max_bytes:
                raise UpstreamError(f"feed is larger than {max_bytes} bytes")
            data = bytearray()
            while chunk := response.read1(CHUNK):  # one recv at most: the deadline holds
                data += chunk
                if len(data) > max_bytes:
                    raise UpstreamError(f"feed is larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise UpstreamError(f"feed took longer than {timeout:g} s to download")
            return bytes(data)
    except UpstreamError as err:
        log.info("upstream fetch of %s refused: %s", url, err)
        raise UpstreamError(COULD_NOT_FETCH) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        log.info("upstream fetch of %s failed: %r", url, err)
        raise UpstreamError(COULD_NOT_FETCH) from None


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
    feed: UpstreamFeed,
    *,
    now: dt.datetime,
    timeout: float,
    max_bytes: int,
    allowed: Sequence[str] | None = None,
) -> ImportResult:
    """Fetch, parse and turn new entries into draft changes. Flushes; the caller commits.

    ``allowed``: networks the fetch may reach besides public addresses (default: the
    ``FEED_IMPORT_ALLOWED_NETWORKS`` setting; see ``fetch``)."""
    if allowed is None:
        allowed = current_app.config.get("FEED_IMPORT_ALLOWED_NETWORKS") or ()
    result = ImportResult(feed)
    try:
        target, author_id = _target_and_author(feed)
        items = parse(fetch(feed.url, timeout=timeout, max_bytes=max_bytes, allowed=allowed))
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
    """Markup stripped to plain text (the body is Markdown, rendered and sanitised later),
    without the characters no feed or mail can carry (``&#11;`` unescapes to one)."""
    return clean_text(html.unescape(nh3.clean(value or "", tags=set()))).strip()


def _entry_date(item, now: dt.datetime) -> dt.datetime | None:
    """The entry's date as aware UTC, or None when it has none or one the portal cannot
    schedule (outside ``check_time_bounds``: e.g. year 9999)."""
    parsed = item.get("published_parsed") or item.get("updated_parsed")
    if not parsed:
        return None
    try:
        year, month, day, hour, minute, second = parsed[:6]
        at = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
        return check_time_bounds(at, "published", now=now)
    except (InvalidInput, ValueError, OverflowError):
        return None


def _draft(
    feed: UpstreamFeed,
    item,
    entry_id: str,
    key: str,
    target: Service,
    author_id: int,
    now: dt.datetime,
) -> Change:
    title = one_line(_text(item.get("title")))[:200] or "Upstream change"
    content = item.get("content") or []
    body = _text(content[0].get("value") if content else item.get("summary"))
    link = item.get("link") or ""
    if urlsplit(link).scheme in ("http", "https") and not any(c in link for c in " <>"):
        body += f"\n\nImported from {feed.name}: <{link}>"
    when = _entry_date(item, now)
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
