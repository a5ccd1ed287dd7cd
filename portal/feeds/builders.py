"""The one feed builder: RSS 2.0 and Atom 1.0 with feedgen, iCalendar with icalendar.

Bodies are deterministic for given entries (no "built now" timestamps), so a body stored under
an ETag stays valid for as long as the ETag does. Change bodies are Markdown rendered and
sanitised by ``portal.templating.render_markdown``; titles and other outside text are escaped by
the XML and iCalendar serialisers.

Standards kept: the Atom feed names its author (RFC 4287 §4.1.1) and, only where the URL holds
no secret (public feeds), its own address (``rel="self"``, §4.2.7.2); calendars carry refresh
hints (RFC 7986 §5.7 REFRESH-INTERVAL, and the X-PUBLISHED-TTL most clients read), SEQUENCE 0
for a change's first revision (RFC 5545 §3.8.7.4), and at least one component even when empty
(RFC 5545 §3.4 ``icalbody``): a UTC VTIMEZONE stands in for the missing events. Public feeds
link to the public change page (``/public/changes/<id>``), private ones to the signed-in page.

Every text that goes into a body passes ``portal.inputs.clean_text``: the characters XML 1.0
forbids (and iCalendar TEXT, RFC 5545 §3.3.11), which input refuses, may still sit in rows
stored before that check, and one of them in one change would otherwise make every feed that
shows it fail (feedgen's lxml refuses to write them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator
from icalendar import Calendar, Event, Timezone, TimezoneStandard, vDuration
from markupsafe import Markup

from portal.feeds.content import Entry, Scope
from portal.feeds.public import Withdrawn
from portal.inputs import clean_text
from portal.templating import render_markdown
from portal.timezones import format_when

FORMATS = ("rss", "atom", "ics")
CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "ics": "text/calendar; charset=utf-8",
}
# The feeds' start of time when they are still empty (a stable Last-Modified / <updated>).
EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
DEFAULT_REFRESH = dt.timedelta(hours=1)


def change_url(base_url: str, change_id: int, *, public: bool = False) -> str:
    """The change page an entry links to: the public page (no login) for a public feed's
    entries, the signed-in change page for a tenant's."""
    path = "public/changes" if public else "changes"
    return f"{base_url.rstrip('/')}/{path}/{change_id}"


def sequence(revision_number: int) -> int:
    """The iCalendar SEQUENCE of a change at a revision: 0 for the first (RFC 5545 §3.8.7.4)."""
    return max(revision_number - 1, 0)


def entry_title(entry: Entry) -> str:
    """ "[Rescheduled] Upgrade the fusion model (degradation)"."""
    return clean_text(f"[{entry.status_label}] {entry.change.title} ({entry.change.impact})")


def entry_html(entry: Entry) -> str:
    """What customers need to do and by when first (issue 15 item 1), then schedule, impact,
    services and status, then the sanitised body."""
    change = entry.change
    services = ", ".join(s.name for s in entry.services) or "—"
    facts = Markup(
        "<p><strong>Status:</strong> {}<br><strong>Impact:</strong> {}<br>"
        "<strong>Starts:</strong> {}<br><strong>Ends:</strong> {}<br>"
        "<strong>Services:</strong> {}<br><strong>Revision:</strong> {}</p>"
    ).format(
        entry.status_label,
        change.impact_level.name if change.impact_level else change.impact,
        _utc(change.starts_at),
        _utc(change.ends_at),
        services,
        change.revision_number,
    )
    note = Markup("<p><strong>{}</strong></p>").format(entry.note) if entry.note else Markup("")
    return clean_text(str(note + _action_html(entry) + facts + render_markdown(change.body_md)))


def _action_html(entry: Entry) -> Markup:
    """The "What you need to do" block of an entry that asks something (none once the change
    no longer applies to the reader: cancelled, or dropped from its affected set)."""
    change = entry.change
    action = (change.customer_action or "").strip()
    if not action or entry.status in ("cancelled", "dropped"):
        return Markup("")
    act_by = (
        Markup("<p><strong>Act by:</strong> {}</p>").format(_utc(change.act_by))
        if change.act_by
        else Markup("")
    )
    return Markup("<h3>What you need to do</h3>") + act_by + render_markdown(action)


def _utc(when: dt.datetime) -> str:
    """Feeds state times in UTC (a feed body is shared by every reader of its scope, whatever
    their zone): "Fri 6 Nov 2026 09:00 UTC", never an ambiguous abbreviation."""
    return format_when(when, "UTC")


def _categories(entry: Entry) -> list[dict]:
    cats = [
        {"term": entry.status, "label": entry.status_label, "scheme": "status"},
        {"term": entry.change.impact, "label": entry.change.impact, "scheme": "impact"},
    ]
    cats += [{"term": s.slug, "label": s.name, "scheme": "service"} for s in entry.services]
    return [{k: clean_text(v) for k, v in cat.items()} for cat in cats]


def feed_id(base_url: str, scope: Scope) -> str:
    """The feed's stable id: never the request URL, which for a private feed holds a secret."""
    return f"{base_url.rstrip('/')}/feeds/{scope.kind}/{scope.id}"


def _generator(
    scope: Scope,
    entries: Sequence[Entry | Withdrawn],
    *,
    fmt: str,
    self_url: str | None,
    base_url: str,
    last_modified: dt.datetime | None,
    author: tuple[str, str] | None = None,
    **_kw,
) -> FeedGenerator:
    """Private feeds pass ``self_url=None``: the stored body is shared by every token of the
    tenant, so it must not carry one token's secret (and a secret URL is no identity to
    publish). ``author`` is (name, email) of whoever signs the notices; withdrawn entries are
    left out (only calendars show them, as cancelled events)."""
    public = scope.kind == "service"
    fg = FeedGenerator()
    fg.id(feed_id(base_url, scope))
    title = clean_text(scope.title)
    fg.title(title)
    fg.description(f"{title}, announced through Forewarn.")
    fg.language("en")
    fg.generator("Forewarn")
    name, email = author or ("Forewarn", "")
    name, email = clean_text(name), clean_text(email)
    fg.author({"name": name, **({"email": email} if email else {})})
    if email:
        fg.managingEditor(f"{email} ({name})")
    if self_url:
        fg.link(href=self_url, rel="self")
    fg.link(href=base_url.rstrip("/") + "/", rel="alternate")  # last: the RSS channel link
    updated = last_modified or EPOCH
    fg.updated(updated)
    fg.lastBuildDate(updated)
    for entry in entries:
        if isinstance(entry, Withdrawn):
            continue
        url = change_url(base_url, entry.change.id, public=public)
        fe = fg.add_entry(order="append")
        fe.id(url)
        fe.guid(url, permalink=True)
        fe.title(entry_title(entry))
        fe.link(href=url, rel="alternate")
        fe.updated(entry.updated)
        # RSS 2.0 has no per-item "updated": its pubDate moves with each revision instead, so
        # readers see the entry change; Atom carries both published and updated.
        fe.published(entry.updated if fmt == "rss" else entry.published)
        html = entry_html(entry)
        if fmt == "atom":
            fe.content(html, type="html")
        else:
            fe.description(html)
        for cat in _categories(entry):
            fe.category(**cat)
    return fg


def build_rss(scope: Scope, entries: Sequence[Entry | Withdrawn], **kw) -> bytes:
    """RSS 2.0 of the entries."""
    return _generator(scope, entries, fmt="rss", **kw).rss_str(pretty=False)


def build_atom(scope: Scope, entries: Sequence[Entry | Withdrawn], **kw) -> bytes:
    """Atom 1.0 of the entries."""
    return _generator(scope, entries, fmt="atom", **kw).atom_str(pretty=False)


def build_ics(
    scope: Scope,
    entries: list[Entry | Withdrawn],
    *,
    base_url: str,
    refresh: dt.timedelta = DEFAULT_REFRESH,
    **_kw,
) -> bytes:
    """An iCalendar with one VEVENT per change; SEQUENCE follows the revision number (0 for
    the first). A change withdrawn from a public feed is a cancelled VEVENT as last published."""
    host = urlsplit(base_url).hostname or "forewarn"
    public = scope.kind == "service"
    cal = Calendar()
    cal.add("prodid", "-//Forewarn//Change feed//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", clean_text(scope.title))
    # How often to poll (RFC 7986 §5.7; X-PUBLISHED-TTL for the clients that predate it).
    cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(refresh))
    for entry in entries:
        if isinstance(entry, Withdrawn):
            cal.add_component(_withdrawn_event(entry, scope, host))
            continue
        change = entry.change
        event = Event()
        event.add("uid", f"change-{change.id}@{host}")
        event.add("dtstamp", entry.updated.astimezone(dt.UTC))
        event.add("last-modified", entry.updated.astimezone(dt.UTC))
        event.add("created", entry.published.astimezone(dt.UTC))
        event.add("dtstart", change.starts_at.astimezone(dt.UTC))
        event.add("dtend", change.ends_at.astimezone(dt.UTC))
        event.add("sequence", sequence(change.revision_number))
        cancelled = entry.status in ("cancelled", "dropped")
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        event.add("summary", entry_title(entry))
        event.add("description", _plain_description(entry, base_url, public=public))
        event.add("url", change_url(base_url, change.id, public=public))
        event.add("categories", [c["label"] for c in _categories(entry)])
        cal.add_component(event)
    if not cal.subcomponents:
        cal.add_component(_utc_timezone())
    return cal.to_ical()


def _withdrawn_event(entry: Withdrawn, scope: Scope, host: str) -> Event:
    """The cancelled VEVENT of a change that left a public feed: its last public content, a
    SEQUENCE above every one published, and nothing of what it became."""
    event = Event()
    event.add("uid", f"change-{entry.change_id}@{host}")
    event.add("dtstamp", entry.withdrawn_at.astimezone(dt.UTC))
    event.add("last-modified", entry.withdrawn_at.astimezone(dt.UTC))
    if entry.published_at is not None:
        event.add("created", entry.published_at.astimezone(dt.UTC))
    event.add("dtstart", entry.starts_at)
    event.add("dtend", entry.ends_at)
    event.add("sequence", sequence(entry.withdrawn_revision))
    event.add("status", "CANCELLED")
    event.add("summary", clean_text(f"[Withdrawn] {entry.title} ({entry.impact})"))
    event.add("description", clean_text(f'No longer announced in "{scope.title}".'))
    return event


def _utc_timezone() -> Timezone:
    """A VTIMEZONE for UTC: the one component of a calendar with no events (RFC 5545 §3.4
    requires at least one; every time in these calendars is UTC anyway)."""
    standard = TimezoneStandard()
    standard.add("dtstart", dt.datetime(1970, 1, 1))
    standard.add("tzoffsetfrom", dt.timedelta(0))
    standard.add("tzoffsetto", dt.timedelta(0))
    standard.add("tzname", "UTC")
    zone = Timezone()
    zone.add("tzid", "UTC")
    zone.add_component(standard)
    return zone


def _plain_description(entry: Entry, base_url: str, *, public: bool = False) -> str:
    """Calendar clients show plain text: what customers need to do (and by when) first, the
    facts, the Markdown source, and the link."""
    change = entry.change
    services = ", ".join(s.name for s in entry.services) or "—"
    action = (change.customer_action or "").strip()
    ask = ""
    if action and entry.status not in ("cancelled", "dropped"):
        by = f" (act by {_utc(change.act_by)})" if change.act_by else ""
        ask = f"What you need to do{by}:\n{action}\n\n"
    return clean_text(
        (f"{entry.note}\n\n" if entry.note else "")
        + ask
        + f"Status: {entry.status_label}\nImpact: {change.impact}\nServices: {services}\n"
        f"Starts: {_utc(change.starts_at)}\nEnds: {_utc(change.ends_at)}\n"
        f"Revision: {change.revision_number}\n\n{change.body_md}\n\n"
        f"{change_url(base_url, change.id, public=public)}"
    )


BUILDERS: dict[str, Callable[..., bytes]] = {"rss": build_rss, "atom": build_atom, "ics": build_ics}


def build(fmt: str, scope: Scope, entries: list[Entry | Withdrawn], **kw) -> bytes:
    """Build one feed body in ``fmt`` (rss, atom or ics)."""
    return BUILDERS[fmt](scope, entries, **kw)


__all__ = ["FORMATS", "CONTENT_TYPES", "build", "change_url", "entry_title"]
