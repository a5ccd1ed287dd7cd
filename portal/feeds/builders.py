"""The one feed builder: RSS 2.0 and Atom 1.0 with feedgen, iCalendar with icalendar.

Bodies are deterministic for given entries (no "built now" timestamps), so a body stored under
an ETag stays valid for as long as the ETag does. Change bodies are Markdown rendered and
sanitised by ``portal.templating.render_markdown``; titles and other outside text are escaped by
the XML and iCalendar serialisers.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator
from icalendar import Calendar, Event
from markupsafe import Markup

from portal.feeds.content import Entry, Scope
from portal.templating import render_markdown

FORMATS = ("rss", "atom", "ics")
CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "ics": "text/calendar; charset=utf-8",
}
# The feeds' start of time when they are still empty (a stable Last-Modified / <updated>).
EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def change_url(base_url: str, change_id: int) -> str:
    """The change page every entry links to."""
    return f"{base_url.rstrip('/')}/changes/{change_id}"


def entry_title(entry: Entry) -> str:
    """ "[Rescheduled] Upgrade the fusion model (degradation)"."""
    return f"[{entry.status_label}] {entry.change.title} ({entry.change.impact})"


def entry_html(entry: Entry) -> str:
    """Schedule, impact, services and status above the sanitised body."""
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
    return str(note + facts + render_markdown(change.body_md))


def _utc(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%a %d %b %Y %H:%M UTC")


def _categories(entry: Entry) -> list[dict]:
    cats = [
        {"term": entry.status, "label": entry.status_label, "scheme": "status"},
        {"term": entry.change.impact, "label": entry.change.impact, "scheme": "impact"},
    ]
    cats += [{"term": s.slug, "label": s.name, "scheme": "service"} for s in entry.services]
    return cats


def feed_id(base_url: str, scope: Scope) -> str:
    """The feed's stable id: never the request URL, which for a private feed holds a secret."""
    return f"{base_url.rstrip('/')}/feeds/{scope.kind}/{scope.id}"


def _generator(
    scope: Scope,
    entries: list[Entry],
    *,
    fmt: str,
    self_url: str | None,
    base_url: str,
    last_modified: dt.datetime | None,
) -> FeedGenerator:
    """Private feeds pass ``self_url=None``: the stored body is shared by every token of the
    tenant, so it must not carry one token's secret."""
    fg = FeedGenerator()
    fg.id(feed_id(base_url, scope))
    fg.title(scope.title)
    fg.description(f"{scope.title}, announced through Forewarn.")
    fg.language("en")
    fg.generator("Forewarn")
    if self_url:
        fg.link(href=self_url, rel="self")
    fg.link(href=base_url.rstrip("/") + "/", rel="alternate")  # last: the RSS channel link
    updated = last_modified or EPOCH
    fg.updated(updated)
    fg.lastBuildDate(updated)
    for entry in entries:
        url = change_url(base_url, entry.change.id)
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


def build_rss(scope: Scope, entries: list[Entry], **kw) -> bytes:
    """RSS 2.0 of the entries."""
    return _generator(scope, entries, fmt="rss", **kw).rss_str(pretty=False)


def build_atom(scope: Scope, entries: list[Entry], **kw) -> bytes:
    """Atom 1.0 of the entries."""
    return _generator(scope, entries, fmt="atom", **kw).atom_str(pretty=False)


def build_ics(scope: Scope, entries: list[Entry], *, base_url: str, **_kw) -> bytes:
    """An iCalendar with one VEVENT per change; SEQUENCE follows the revision number."""
    host = urlsplit(base_url).hostname or "forewarn"
    cal = Calendar()
    cal.add("prodid", "-//Forewarn//Change feed//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", scope.title)
    for entry in entries:
        change = entry.change
        event = Event()
        event.add("uid", f"change-{change.id}@{host}")
        event.add("dtstamp", entry.updated.astimezone(dt.UTC))
        event.add("last-modified", entry.updated.astimezone(dt.UTC))
        event.add("created", entry.published.astimezone(dt.UTC))
        event.add("dtstart", change.starts_at.astimezone(dt.UTC))
        event.add("dtend", change.ends_at.astimezone(dt.UTC))
        event.add("sequence", change.revision_number)
        cancelled = entry.status in ("cancelled", "dropped")
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        event.add("summary", entry_title(entry))
        event.add("description", _plain_description(entry, base_url))
        event.add("url", change_url(base_url, change.id))
        event.add("categories", [c["label"] for c in _categories(entry)])
        cal.add_component(event)
    return cal.to_ical()


def _plain_description(entry: Entry, base_url: str) -> str:
    """Calendar clients show plain text: the facts, the Markdown source, and the link."""
    change = entry.change
    services = ", ".join(s.name for s in entry.services) or "—"
    return (
        (f"{entry.note}\n\n" if entry.note else "")
        + f"Status: {entry.status_label}\nImpact: {change.impact}\nServices: {services}\n"
        f"Revision: {change.revision_number}\n\n{change.body_md}\n\n"
        f"{change_url(base_url, change.id)}"
    )


BUILDERS = {"rss": build_rss, "atom": build_atom, "ics": build_ics}


def build(fmt: str, scope: Scope, entries: list[Entry], **kw) -> bytes:
    """Build one feed body in ``fmt`` (rss, atom or ics)."""
    return BUILDERS[fmt](scope, entries, **kw)


__all__ = ["FORMATS", "CONTENT_TYPES", "build", "change_url", "entry_title"]
